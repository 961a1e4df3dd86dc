/* A target calling glibc's indirect functions (strlen, memcpy), whose symbols are resolvers.
 * Usage: ifunc_target N   (N calls of each, with a marker string and a 1234-byte copy) */
#include <stdlib.h>
#include <string.h>

static char src[4096], dst[4096];

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    char word[32] = "ferret-ifunc";
    size_t len = 1200 + (size_t)n * 0 + 34;
    /* Through volatile pointers so the compiler keeps the library calls. */
    size_t (*volatile f_strlen)(const char *) = strlen;
    void *(*volatile f_memcpy)(void *, const void *, size_t) = memcpy;
    size_t t = 0;
    for (int i = 0; i < n; i++) {
        t += f_strlen(word);
        f_memcpy(dst, src, len);
    }
    return t == 0;
}
