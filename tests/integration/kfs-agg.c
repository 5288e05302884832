/*
 * kfs-agg - kinesisfs's KPL aggregated records (backend/kpl/agg.h) on
 * files, in the formats of tests/aws/agg-tool.js, so that kpl-agg.sh
 * compares them with the npm aws-kinesis-agg both ways.
 *
 *   kfs-agg encode IN.tsv PREFIX [MAX_BYTES]
 *       packs the user records of IN.tsv ("KEY<TAB>EHK or -<TAB>DATA as a
 *       JSON string" lines), in order, into aggregated records of at most
 *       MAX_BYTES (default the KPL's 51200) written to PREFIX.1, ...;
 *       prints "PREFIX.N<TAB>FIRST-KEY" for each
 *   kfs-agg decode FILE...
 *       "N<TAB>KEY<TAB>EHK or -<TAB>DATA as a JSON string" for each user
 *       record; a file that is not a valid aggregated record prints
 *       "plain<TAB>WHY" and makes the exit status 3
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/kpl/agg.h"

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			unsigned char *b = realloc(buf, cap ? cap * 2 : 65536);

			if (!b) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = b;
			cap = cap ? cap * 2 : 65536;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	*len = n;
	return buf;
}

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "kfs-agg: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int decode(int argc, char **argv)
{
	int status = 0;

	for (int i = 0; i < argc; i++) {
		struct kfs_agg a;
		const char *why = NULL;
		size_t len;
		unsigned char *buf = slurp(argv[i], &len);
		int err;

		if (!buf) {
			fprintf(stderr, "kfs-agg: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		err = kfs_agg_decode(buf, len, &a, &why);
		if (err == -EBADMSG) {
			printf("plain\t%s\n", why);
			status = 3;
		} else if (err) {
			fprintf(stderr, "kfs-agg: %s: %s\n", argv[i], strerror(-err));
			free(buf);
			return 1;
		}
		for (size_t j = 0; !err && j < a.n; j++) {
			cJSON *s = cJSON_CreateString("");
			char *js, *d = malloc(a.records[j].len + 1);

			memcpy(d, a.records[j].data, a.records[j].len);
			d[a.records[j].len] = '\0';
			cJSON_SetValuestring(s, d);
			js = cJSON_PrintUnformatted(s);
			printf("%zu\t%s\t%s\t%s\n", j, a.records[j].key,
			       a.records[j].explicit_hash_key ? a.records[j].explicit_hash_key : "-",
			       js);
			cJSON_free(js);
			cJSON_Delete(s);
			free(d);
		}
		kfs_agg_clear(&a);
		free(buf);
	}
	return status;
}

/* Packs what b holds into PREFIX.N. */
static int flush(struct kfs_agg_builder *b, const char *prefix, int *nout,
		 const char *first_key)
{
	unsigned char *out;
	size_t len;
	char path[4096];
	int err = kfs_agg_builder_pack(b, &out, &len);

	if (err) {
		fprintf(stderr, "kfs-agg: pack: %s\n", strerror(-err));
		return -1;
	}
	snprintf(path, sizeof(path), "%s.%d", prefix, ++*nout);
	err = write_file(path, out, len);
	free(out);
	if (!err)
		printf("%s\t%s\n", path, first_key);
	return err;
}

static int encode(const char *tsv, const char *prefix, size_t max)
{
	struct kfs_agg_builder *b = kfs_agg_builder_new();
	FILE *f = fopen(tsv, "r");
	char *line = NULL, **keep = NULL, first[300] = "";
	size_t cap = 0, nkeep = 0;
	int nout = 0, rc = 0;
	cJSON **datas = NULL;

	if (!b || !f) {
		fprintf(stderr, "kfs-agg: %s: %s\n", tsv, strerror(errno));
		return 1;
	}
	/* The builder borrows: every line and parsed datum lives to the end. */
	while (getline(&line, &cap, f) > 0) {
		char *key = line, *ehk, *js, *nl;
		cJSON *d;

		line[strcspn(line, "\n")] = '\0';
		ehk = strchr(key, '\t');
		js = ehk ? strchr(ehk + 1, '\t') : NULL;
		if (!js) {
			fprintf(stderr, "kfs-agg: %s: a line without 3 fields\n", tsv);
			return 1;
		}
		*ehk++ = '\0';
		*js++ = '\0';
		d = cJSON_Parse(js);
		if (!cJSON_IsString(d)) {
			fprintf(stderr, "kfs-agg: %s: data is not a JSON string\n", tsv);
			return 1;
		}
		keep = realloc(keep, (nkeep + 1) * sizeof(*keep));
		datas = realloc(datas, (nkeep + 1) * sizeof(*datas));
		keep[nkeep] = line;
		datas[nkeep++] = d;
		if (strcmp(ehk, "-") == 0)
			ehk = NULL;
		nl = d->valuestring;
		if (kfs_agg_builder_count(b) > 0 &&
		    kfs_agg_builder_size_with(b, key, ehk, strlen(nl)) > max &&
		    flush(b, prefix, &nout, first) != 0) {
			rc = 1;
			break;
		}
		if (kfs_agg_builder_count(b) == 0)
			snprintf(first, sizeof(first), "%s", key);
		if (kfs_agg_builder_add(b, key, ehk, nl, strlen(nl)) != 0) {
			rc = 1;
			break;
		}
		line = NULL;
		cap = 0;
	}
	if (!rc && kfs_agg_builder_count(b) > 0 && flush(b, prefix, &nout, first) != 0)
		rc = 1;
	fclose(f);
	free(line);
	for (size_t i = 0; i < nkeep; i++) {
		free(keep[i]);
		cJSON_Delete(datas[i]);
	}
	free(keep);
	free(datas);
	kfs_agg_builder_free(b);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && argc <= 5 && strcmp(argv[1], "encode") == 0)
		return encode(argv[2], argv[3],
			      argc == 5 ? strtoul(argv[4], NULL, 10)
					: KFS_AGG_MAX_BYTES_DEFAULT);
	if (argc >= 3 && strcmp(argv[1], "decode") == 0)
		return decode(argc - 2, argv + 2);
	fprintf(stderr, "usage: kfs-agg encode IN.tsv PREFIX [MAX_BYTES] | decode FILE...\n");
	return 2;
}
