/*
 * nex.h: host services for nex WebAssembly functions (C, wasm32-wasi).
 *
 * The raw imports come from the wasm import module "nex"; docs/wasm.md documents the ABI.
 * Every call returns a status: >= 0 is success (for calls that return data, the length of the
 * pending result, which nex_result_read copies out), < 0 is one of NEX_ERR_* and the pending
 * result holds the error message.
 *
 *   char *v; int n = nex_kv_get_alloc("iot", "dev1", &v);   // n >= 0: v holds n bytes (+ a NUL)
 */
#ifndef NEX_H
#define NEX_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NEX_OK 0
#define NEX_ERR_NOT_FOUND (-1)     /* the KV key or object does not exist */
#define NEX_ERR_INVALID (-2)       /* bad pointer, UTF-8, bucket, subject, URL or method */
#define NEX_ERR_NO_RESPONDERS (-3) /* a request found no responders */
#define NEX_ERR_TIMEOUT (-4)       /* the service did not answer in time */
#define NEX_ERR_FAILED (-5)        /* any other failure; read the message */
#define NEX_ERR_DENIED (-6)        /* not allowed for this workload (reserved subject, bucket or host outside its grants) */
#define NEX_ERR_LIMIT (-7)         /* a size limit was hit */

#define NEX_IMPORT(name) __attribute__((import_module("nex"), import_name(name)))

NEX_IMPORT("kv_get") int32_t nex_kv_get(const char *bucket, uint32_t bucket_len, const char *key, uint32_t key_len);
NEX_IMPORT("kv_set") int32_t nex_kv_set(const char *bucket, uint32_t bucket_len, const char *key, uint32_t key_len,
                                        const void *value, uint32_t value_len);
NEX_IMPORT("kv_delete") int32_t nex_kv_delete(const char *bucket, uint32_t bucket_len, const char *key, uint32_t key_len);
/* Keys joined by '\n'; an empty filter means every key. */
NEX_IMPORT("kv_keys") int32_t nex_kv_keys(const char *bucket, uint32_t bucket_len, const char *filter, uint32_t filter_len);
NEX_IMPORT("obj_get") int32_t nex_obj_get(const char *bucket, uint32_t bucket_len, const char *name, uint32_t name_len);
NEX_IMPORT("obj_put") int32_t nex_obj_put(const char *bucket, uint32_t bucket_len, const char *name, uint32_t name_len,
                                          const void *data, uint32_t data_len);
NEX_IMPORT("publish") int32_t nex_publish(const char *subject, uint32_t subject_len, const void *data, uint32_t data_len);
/* timeout_ms 0 means the host's default. */
NEX_IMPORT("request") int32_t nex_request(const char *subject, uint32_t subject_len, const void *data, uint32_t data_len,
                                          uint32_t timeout_ms);
/* headers: "Name: value" lines separated by '\n'. The HTTP status is stored at *http_status. */
NEX_IMPORT("http") int32_t nex_http(const char *method, uint32_t method_len, const char *url, uint32_t url_len,
                                    const char *headers, uint32_t headers_len, const void *body, uint32_t body_len,
                                    uint32_t *http_status);
NEX_IMPORT("result_len") int32_t nex_result_len(void);
NEX_IMPORT("result_read") int32_t nex_result_read(void *buf, uint32_t buf_len);

/* Copies the pending result into a fresh NUL-terminated buffer (free it); returns its length, or -1 if out of memory. */
static inline int32_t nex_result_alloc(char **out) {
  int32_t n = nex_result_len();
  char *buf = (char *)malloc((size_t)n + 1);
  if (buf == NULL) return -1;
  n = nex_result_read(buf, (uint32_t)n);
  buf[n] = 0;
  *out = buf;
  return n;
}

/* Gets a KV value into a fresh buffer. Returns its length, or a NEX_ERR_* status (then *out holds the message). */
static inline int32_t nex_kv_get_alloc(const char *bucket, const char *key, char **out) {
  int32_t st = nex_kv_get(bucket, strlen(bucket), key, strlen(key));
  int32_t n = nex_result_alloc(out);
  return st < 0 ? st : n;
}

/* Sets a KV value from a NUL-terminated string. */
static inline int32_t nex_kv_set_str(const char *bucket, const char *key, const char *value) {
  return nex_kv_set(bucket, strlen(bucket), key, strlen(key), value, strlen(value));
}

#endif
