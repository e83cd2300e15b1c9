/* The benchmark's WASM KV function: one KV get of key "k" in bucket "bench", the value is the reply.
 * The same work as the JS row `(s, p) => this.kv("bench").get("k")`. Rebuild with build.sh. */
#include <stdio.h>
#include "../../examples/wasm/nex/nex.h"

int main(void) {
  char *value;
  int32_t n = nex_kv_get_alloc("bench", "k", &value);
  if (n < 0) {
    fprintf(stderr, "kv get failed (%d): %s\n", n, value);
    return 2;
  }
  fwrite(value, 1, (size_t)n, stdout);
  return 0;
}
