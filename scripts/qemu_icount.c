/* A QEMU TCG plugin (plugin API v1, QEMU 7.2) that counts the guest instructions a user-mode qemu-aarch64 executes
 * and writes the running count, one line each time the guest makes the marker system call lseek(-1, MARK, 0) (an
 * invalid descriptor: the call fails and changes nothing). invdn_mobile.runtimes.arm64 marks each model invocation;
 * the differences are instructions per invocation. Single guest thread: the count is a plain inline add per block.
 * With profile=K it also counts per translated block and, at the end of invocation K (0-based), writes
 * "pc ADDRESS COUNT" for every block that ran during that invocation (the host maps addresses to functions).
 *   qemu-aarch64 -plugin icount.so,out=/host/path/counts.txt[,profile=1] ...
 * Debian ships no qemu-plugin.h; the few declarations of the stable API used here are written out below. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, struct qemu_plugin_tb *));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, unsigned int, int64_t,
    uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t));
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, void *), void *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define SYS_LSEEK 62 /* aarch64 */
#define MARK 0x1c0de
static uint64_t count, marks;
static FILE *out;
static long profile = -1; /* the invocation to profile, or -1 */

/* one slot per translated block, in chunks that never move (their counters are updated inline) */
struct slot { uint64_t pc, count, base; };
#define CHUNK 65536
static struct slot *chunks[16384];
static size_t slots;

static void on_block(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &count, n);
    if (profile < 0 || slots / CHUNK >= sizeof(chunks) / sizeof(chunks[0])) return;
    if (!chunks[slots / CHUNK]) chunks[slots / CHUNK] = calloc(CHUNK, sizeof(struct slot));
    struct slot *s = &chunks[slots / CHUNK][slots % CHUNK];
    slots++;
    s->pc = qemu_plugin_tb_vaddr(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &s->count, n);
}

static void profile_mark(void) {
    for (size_t i = 0; i < slots; i++) {
        struct slot *s = &chunks[i / CHUNK][i % CHUNK];
        if (marks == 2 * (uint64_t)profile) s->base = s->count;
        else if (s->count > s->base) fprintf(out, "pc %llx %llu\n", (unsigned long long)s->pc,
                                             (unsigned long long)(s->count - s->base));
    }
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2, uint64_t a3,
                       uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    if (num == SYS_LSEEK && a1 == UINT64_MAX && a2 == MARK) {
        fprintf(out, "%llu\n", (unsigned long long)count);
        if (profile >= 0 && (marks == 2 * (uint64_t)profile || marks == 2 * (uint64_t)profile + 1)) profile_mark();
        marks++;
        fflush(out);
    }
}

static void at_end(qemu_plugin_id_t id, void *unused) {
    fprintf(out, "exit %llu\n", (unsigned long long)count);
    fclose(out);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc,
                                                                char **argv) {
    out = NULL;
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "out=", 4) == 0) out = fopen(argv[i] + 4, "w");
        else if (strncmp(argv[i], "profile=", 8) == 0) profile = strtol(argv[i] + 8, NULL, 10);
    if (!out) {
        fprintf(stderr, "icount: give out=FILE (a writable host path)\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_block);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, at_end, NULL);
    return 0;
}
