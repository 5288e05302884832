/* versions.c - see versions.h. */
#include "versions.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

void kfs_print_backend_versions(FILE *out)
{
	fprintf(out, "libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
	fprintf(out, "cJSON %s\n", cJSON_Version());
	/* OPENSSL_VERSION would say "OpenSSL 3.0.x <date>". */
	fprintf(out, "OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
}
