/* A target for char-array members that fill their array (no NUL): struct F's s is "hello". */
#include <string.h>

struct F {
    char s[5];
    long x;
};

__attribute__((noinline)) long take(struct F *f) {
    __asm__ volatile("" ::: "memory");
    return f->x;
}

/* Pointers stored in user memory: g->z[1] points at 2. */
struct G {
    int *z[2];
};

__attribute__((noinline)) int take_ptrs(struct G *g) {
    __asm__ volatile("" ::: "memory");
    return *g->z[0];
}

int main(void) {
    int one = 1, two = 2;
    struct G g = {{&one, &two}};
    struct F f;
    memcpy(f.s, "hello", 5);
    f.x = 0x7878787878787878; /* 'x' bytes right after the array */
    return ((int)take(&f) + take_ptrs(&g)) & 1;
}
