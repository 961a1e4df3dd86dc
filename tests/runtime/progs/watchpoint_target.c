/* A target for watchpoint tests: maps a page at 0x10000000 and touches its first bytes.
 * CFLAGS: -pthread
 * Usage: watchpoint_target write|exec|thread
 *   write:  writes the first byte 5 times
 *   exec:   runs the two instructions (nop; ret) copied to the start of the page, 3 times
 *   thread: writes the first byte 4 times from a thread created after start
 *   loop:   starts a thread at once that writes the first byte every 100ms for 3s (for -p) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile uint8_t *page;

static void write_bytes(int n) {
    for (int i = 0; i < n; i++)
        page[0] = (uint8_t)i;
}

static void *worker(void *arg) {
    write_bytes(*(int *)arg);
    return NULL;
}

static void *slow_worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 30; i++) {
        usleep(100 * 1000);
        page[0] = (uint8_t)i;
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "write";
    void *p = mmap((void *)0x10000000, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    page = p;
    if (!strcmp(mode, "exec")) {
        static const uint8_t insns[] = {0x90, 0xc3}; /* nop; ret */
        memcpy(p, insns, sizeof(insns));
        void (*fn)(void) = (void (*)(void))p;
        for (int i = 0; i < 3; i++)
            fn();
    } else if (!strcmp(mode, "thread") || !strcmp(mode, "loop")) {
        pthread_t t;
        int n = 4;
        void *(*fn)(void *) = strcmp(mode, "loop") ? worker : slow_worker;
        /* loop (for -p): the tracer starts beside us; give it time to attach to this thread
           first, so the worker inherits the breakpoint rather than racing its enumeration. */
        if (!strcmp(mode, "loop"))
            usleep(300 * 1000);
        if (pthread_create(&t, NULL, fn, &n) || pthread_join(t, NULL))
            return 1;
    } else {
        write_bytes(5);
    }
    return 0;
}
