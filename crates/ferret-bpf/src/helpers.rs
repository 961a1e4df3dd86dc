//! Kernel helper function ids (include/uapi/linux/bpf.h `__BPF_FUNC_MAPPER`).

pub const MAP_LOOKUP_ELEM: u32 = 1;
/// `bpf_per_cpu_ptr(percpu_var, cpu)`.
pub const PER_CPU_PTR: u32 = 153;
/// `bpf_this_cpu_ptr(percpu_var)`.
pub const THIS_CPU_PTR: u32 = 154;
/// `long bpf_for_each_map_elem(map, callback, ctx, flags)`
pub const FOR_EACH_MAP_ELEM: u32 = 164;
/// `long bpf_loop(nr_loops, callback, ctx, flags)`
pub const LOOP: u32 = 181;
pub const MAP_UPDATE_ELEM: u32 = 2;
pub const MAP_DELETE_ELEM: u32 = 3;
pub const PROBE_READ: u32 = 4;
pub const KTIME_GET_NS: u32 = 5;
pub const TRACE_PRINTK: u32 = 6;
pub const GET_PRANDOM_U32: u32 = 7;
pub const GET_SMP_PROCESSOR_ID: u32 = 8;
pub const GET_CURRENT_PID_TGID: u32 = 14;
pub const GET_CURRENT_UID_GID: u32 = 15;
/// `long bpf_get_ns_current_pid_tgid(u64 dev, u64 ino, struct bpf_pidns_info *nsdata, u32 size)`
pub const GET_NS_CURRENT_PID_TGID: u32 = 120;
pub const GET_CURRENT_COMM: u32 = 16;
/// `long bpf_tail_call(ctx, prog_array, index)`: does not return when the slot holds a program.
pub const TAIL_CALL: u32 = 12;
pub const PERF_EVENT_OUTPUT: u32 = 25;
pub const GET_STACKID: u32 = 27;
pub const GET_CURRENT_TASK: u32 = 35;
pub const GET_CURRENT_CGROUP_ID: u32 = 80;
pub const SEND_SIGNAL: u32 = 109;
/// `bpf_probe_write_user(dst, src, len)`.
pub const PROBE_WRITE_USER: u32 = 36;
/// bpf_get_socket_cookie; in tracing programs, of a BTF-typed socket pointer.
pub const GET_SOCKET_COOKIE: u32 = 46;
/// bpf_skb_output: an sk_buff's data appended to a perf event record.
pub const SKB_OUTPUT: u32 = 111;
pub const PROBE_READ_USER: u32 = 112;
pub const PROBE_READ_KERNEL: u32 = 113;
pub const PROBE_READ_USER_STR: u32 = 114;
pub const PROBE_READ_KERNEL_STR: u32 = 115;
pub const KTIME_GET_BOOT_NS: u32 = 125;
pub const RINGBUF_OUTPUT: u32 = 130;
pub const GET_CURRENT_TASK_BTF: u32 = 158;
/// `struct pt_regs *bpf_task_pt_regs(struct task_struct *task)`: the task's user registers.
pub const TASK_PT_REGS: u32 = 175;
/// `long bpf_find_vma(task, addr, callback, ctx, flags)`
pub const FIND_VMA: u32 = 180;
pub const GET_FUNC_IP: u32 = 173;
pub const KTIME_GET_TAI_NS: u32 = 208;
pub const GET_STACK: u32 = 67;
pub const JIFFIES64: u32 = 118;
pub const GET_NUMA_NODE_ID: u32 = 42;
pub const MAP_LOOKUP_PERCPU_ELEM: u32 = 195;
pub const SEND_SIGNAL_THREAD: u32 = 117;
pub const RINGBUF_RESERVE: u32 = 131;
pub const RINGBUF_SUBMIT: u32 = 132;
pub const TRACE_VPRINTK: u32 = 177;

/// Name of a helper for the disassembler.
pub fn name(id: u32) -> &'static str {
    match id {
        MAP_LOOKUP_ELEM => "map_lookup_elem",
        MAP_UPDATE_ELEM => "map_update_elem",
        MAP_DELETE_ELEM => "map_delete_elem",
        PROBE_READ => "probe_read",
        KTIME_GET_NS => "ktime_get_ns",
        TRACE_PRINTK => "trace_printk",
        GET_PRANDOM_U32 => "get_prandom_u32",
        GET_SMP_PROCESSOR_ID => "get_smp_processor_id",
        GET_CURRENT_PID_TGID => "get_current_pid_tgid",
        GET_CURRENT_UID_GID => "get_current_uid_gid",
        GET_NS_CURRENT_PID_TGID => "get_ns_current_pid_tgid",
        GET_CURRENT_COMM => "get_current_comm",
        PERF_EVENT_OUTPUT => "perf_event_output",
        GET_STACKID => "get_stackid",
        GET_CURRENT_TASK => "get_current_task",
        TAIL_CALL => "tail_call",
        GET_CURRENT_CGROUP_ID => "get_current_cgroup_id",
        SEND_SIGNAL => "send_signal",
        PROBE_READ_USER => "probe_read_user",
        PROBE_READ_KERNEL => "probe_read_kernel",
        PROBE_READ_USER_STR => "probe_read_user_str",
        PROBE_READ_KERNEL_STR => "probe_read_kernel_str",
        KTIME_GET_BOOT_NS => "ktime_get_boot_ns",
        RINGBUF_OUTPUT => "ringbuf_output",
        GET_CURRENT_TASK_BTF => "get_current_task_btf",
        TASK_PT_REGS => "task_pt_regs",
        FIND_VMA => "find_vma",
        GET_FUNC_IP => "get_func_ip",
        KTIME_GET_TAI_NS => "ktime_get_tai_ns",
        GET_STACK => "get_stack",
        JIFFIES64 => "jiffies64",
        GET_NUMA_NODE_ID => "get_numa_node_id",
        MAP_LOOKUP_PERCPU_ELEM => "map_lookup_percpu_elem",
        FOR_EACH_MAP_ELEM => "for_each_map_elem",
        LOOP => "loop",
        SEND_SIGNAL_THREAD => "send_signal_thread",
        RINGBUF_RESERVE => "ringbuf_reserve",
        RINGBUF_SUBMIT => "ringbuf_submit",
        TRACE_VPRINTK => "trace_vprintk",
        _ => "helper",
    }
}
