/* The KV example in C: counts visits per name in a KV bucket and greets the caller.
 * stdin is the name; the reply is "hello NAME, visit #N". The bucket is $NEX_KV_BUCKET, or "wasm_visits". */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../nex/nex.h"

int main(void) {
  char name[256];
  size_t n = fread(name, 1, sizeof name - 1, stdin);
  while (n > 0 && isspace((unsigned char)name[n - 1])) n--;
  name[n] = 0;
  if (n == 0) strcpy(name, "anonymous");
  char key[256];
  for (size_t i = 0; i <= strlen(name); i++) {
    char c = name[i];
    key[i] = (c == 0 || isalnum((unsigned char)c) || c == '-' || c == '_') ? c : '_';
  }
  const char *bucket = getenv("NEX_KV_BUCKET");
  if (bucket == NULL) bucket = "wasm_visits";

  char *value;
  long count = 0;
  int32_t st = nex_kv_get_alloc(bucket, key, &value);
  if (st >= 0) count = atol(value);
  else if (st != NEX_ERR_NOT_FOUND) {
    fprintf(stderr, "kv get failed (%d): %s\n", st, value);
    return 2;
  }
  char next[32];
  snprintf(next, sizeof next, "%ld", count + 1);
  st = nex_kv_set_str(bucket, key, next);
  if (st < 0) {
    char *msg;
    nex_result_alloc(&msg);
    fprintf(stderr, "kv set failed (%d): %s\n", st, msg);
    return 2;
  }
  printf("hello %s, visit #%s", name, next);
  return 0;
}
