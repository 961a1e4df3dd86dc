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

int main(void) {
    struct F f;
    memcpy(f.s, "hello", 5);
    f.x = 0x7878787878787878; /* 'x' bytes right after the array */
    return (int)take(&f) & 1;
}
