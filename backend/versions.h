/* versions.h - the versions of the libraries the backends run on. */
#ifndef KFS_VERSIONS_H
#define KFS_VERSIONS_H

#include <stdio.h>

/* Prints one line per library (libcurl, cJSON, OpenSSL) as in use now. */
void kfs_print_backend_versions(FILE *out);

#endif
