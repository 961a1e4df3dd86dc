//! Tracepoints that see what common kernel functions do: the hints of the error a kernel
//! function probe (kprobe, fentry) gives where the kernel can attach neither.

/// Kernel functions and the tracepoints that fire for the same work, at entry and at return.
/// Names a syscall rule does not find (see [`syscall_of`]); kept to functions people trace.
const TABLE: &[(&[&str], &[&str], &[&str])] = &[
    (
        &["vfs_read", "ksys_read", "vfs_readv", "do_iter_read"],
        &["syscalls:sys_enter_read", "syscalls:sys_enter_pread64", "syscalls:sys_enter_readv"],
        &["syscalls:sys_exit_read", "syscalls:sys_exit_pread64", "syscalls:sys_exit_readv"],
    ),
    (
        &["vfs_write", "ksys_write", "vfs_writev", "do_iter_write"],
        &["syscalls:sys_enter_write", "syscalls:sys_enter_pwrite64", "syscalls:sys_enter_writev"],
        &["syscalls:sys_exit_write", "syscalls:sys_exit_pwrite64", "syscalls:sys_exit_writev"],
    ),
    (
        &["vfs_open", "do_sys_open", "do_sys_openat2", "do_filp_open", "path_openat", "security_file_open"],
        &["syscalls:sys_enter_openat", "syscalls:sys_enter_open", "syscalls:sys_enter_openat2"],
        &["syscalls:sys_exit_openat", "syscalls:sys_exit_open", "syscalls:sys_exit_openat2"],
    ),
    (&["filp_close", "close_fd", "__close_fd"], &["syscalls:sys_enter_close"], &["syscalls:sys_exit_close"]),
    (
        &["vfs_fsync", "vfs_fsync_range", "do_fsync"],
        &["syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync"],
        &["syscalls:sys_exit_fsync", "syscalls:sys_exit_fdatasync"],
    ),
    (
        &["vfs_unlink", "do_unlinkat"],
        &["syscalls:sys_enter_unlinkat", "syscalls:sys_enter_unlink"],
        &["syscalls:sys_exit_unlinkat", "syscalls:sys_exit_unlink"],
    ),
    (
        &["vfs_rename", "do_renameat2"],
        &["syscalls:sys_enter_renameat2", "syscalls:sys_enter_renameat", "syscalls:sys_enter_rename"],
        &["syscalls:sys_exit_renameat2", "syscalls:sys_exit_renameat", "syscalls:sys_exit_rename"],
    ),
    (
        &["vfs_mkdir", "do_mkdirat"],
        &["syscalls:sys_enter_mkdirat", "syscalls:sys_enter_mkdir"],
        &["syscalls:sys_exit_mkdirat", "syscalls:sys_exit_mkdir"],
    ),
    (
        &["vfs_statx", "vfs_fstatat", "vfs_getattr", "vfs_fstat"],
        &["syscalls:sys_enter_newfstatat", "syscalls:sys_enter_statx", "syscalls:sys_enter_newfstat"],
        &["syscalls:sys_exit_newfstatat", "syscalls:sys_exit_statx", "syscalls:sys_exit_newfstat"],
    ),
    (&["do_mmap", "vm_mmap_pgoff", "ksys_mmap_pgoff"], &["syscalls:sys_enter_mmap"], &["syscalls:sys_exit_mmap"]),
    (&["do_munmap", "__vm_munmap"], &["syscalls:sys_enter_munmap"], &["syscalls:sys_exit_munmap"]),
    (
        &["do_nanosleep", "hrtimer_nanosleep"],
        &["syscalls:sys_enter_nanosleep", "syscalls:sys_enter_clock_nanosleep"],
        &["syscalls:sys_exit_nanosleep", "syscalls:sys_exit_clock_nanosleep"],
    ),
    (
        &["do_epoll_wait", "ep_poll"],
        &["syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_pwait"],
        &["syscalls:sys_exit_epoll_wait", "syscalls:sys_exit_epoll_pwait"],
    ),
    (
        &["do_execve", "do_execveat_common", "bprm_execve", "exec_binprm"],
        &["sched:sched_process_exec", "syscalls:sys_enter_execve"],
        &["sched:sched_process_exec", "syscalls:sys_exit_execve"],
    ),
    (&["do_exit", "do_group_exit"], &["sched:sched_process_exit"], &["sched:sched_process_exit"]),
    (
        &["kernel_clone", "_do_fork", "do_fork", "copy_process"],
        &["sched:sched_process_fork"],
        &["sched:sched_process_fork"],
    ),
    (&["wake_up_new_task"], &["sched:sched_wakeup_new"], &["sched:sched_wakeup_new"]),
    (
        &["try_to_wake_up", "wake_up_process", "ttwu_do_activate"],
        &["sched:sched_waking", "sched:sched_wakeup"],
        &["sched:sched_wakeup"],
    ),
    (&["schedule", "__schedule", "finish_task_switch"], &["sched:sched_switch"], &["sched:sched_switch"]),
    (
        &["__kmalloc", "kmalloc", "__kmalloc_node", "kmalloc_trace", "__kmalloc_noprof"],
        &["kmem:kmalloc"],
        &["kmem:kmalloc"],
    ),
    (&["kfree"], &["kmem:kfree"], &["kmem:kfree"]),
    (&["kmem_cache_alloc", "kmem_cache_alloc_noprof"], &["kmem:kmem_cache_alloc"], &["kmem:kmem_cache_alloc"]),
    (&["kmem_cache_free"], &["kmem:kmem_cache_free"], &["kmem:kmem_cache_free"]),
    (&["__alloc_pages", "alloc_pages", "__alloc_pages_noprof"], &["kmem:mm_page_alloc"], &["kmem:mm_page_alloc"]),
    (&["__free_pages", "free_pages", "free_unref_page"], &["kmem:mm_page_free"], &["kmem:mm_page_free"]),
    (
        &["handle_mm_fault", "do_user_addr_fault", "exc_page_fault"],
        &["exceptions:page_fault_user", "exceptions:page_fault_kernel"],
        &["exceptions:page_fault_user", "exceptions:page_fault_kernel"],
    ),
    (&["submit_bio", "submit_bio_noacct"], &["block:block_bio_queue"], &["block:block_bio_queue"]),
    (&["blk_mq_start_request", "blk_account_io_start"], &["block:block_rq_issue"], &["block:block_rq_issue"]),
    (
        &["blk_mq_end_request", "blk_account_io_done", "blk_mq_complete_request", "blk_update_request"],
        &["block:block_rq_complete"],
        &["block:block_rq_complete"],
    ),
    (
        &["tcp_sendmsg", "tcp_sendmsg_locked", "sock_sendmsg", "inet_sendmsg"],
        &["syscalls:sys_enter_sendto", "syscalls:sys_enter_sendmsg", "syscalls:sys_enter_write"],
        &["syscalls:sys_exit_sendto", "syscalls:sys_exit_sendmsg", "syscalls:sys_exit_write"],
    ),
    (
        &["tcp_recvmsg", "sock_recvmsg", "inet_recvmsg"],
        &["syscalls:sys_enter_recvfrom", "syscalls:sys_enter_recvmsg", "syscalls:sys_enter_read"],
        &["syscalls:sys_exit_recvfrom", "syscalls:sys_exit_recvmsg", "syscalls:sys_exit_read"],
    ),
    (
        &["tcp_connect", "tcp_v4_connect", "tcp_v6_connect", "tcp_set_state", "tcp_close", "inet_csk_accept"],
        &["sock:inet_sock_set_state"],
        &["sock:inet_sock_set_state"],
    ),
    (&["tcp_retransmit_skb", "__tcp_retransmit_skb"], &["tcp:tcp_retransmit_skb"], &["tcp:tcp_retransmit_skb"]),
    (&["tcp_rcv_established"], &["tcp:tcp_probe"], &["tcp:tcp_probe"]),
    (&["tcp_v4_send_reset", "tcp_send_active_reset"], &["tcp:tcp_send_reset"], &["tcp:tcp_send_reset"]),
    (&["kfree_skb", "kfree_skb_reason", "__kfree_skb", "tcp_drop"], &["skb:kfree_skb"], &["skb:kfree_skb"]),
    (
        &["netif_receive_skb", "__netif_receive_skb", "netif_rx"],
        &["net:netif_receive_skb", "net:netif_rx"],
        &["net:netif_receive_skb"],
    ),
    (&["dev_queue_xmit", "__dev_queue_xmit"], &["net:net_dev_queue"], &["net:net_dev_xmit"]),
    (&["__do_softirq", "net_rx_action"], &["irq:softirq_entry"], &["irq:softirq_exit"]),
    (&["handle_irq_event", "handle_irq_event_percpu"], &["irq:irq_handler_entry"], &["irq:irq_handler_exit"]),
    (
        &["do_send_sig_info", "send_signal", "__send_signal", "send_signal_locked"],
        &["signal:signal_generate"],
        &["signal:signal_generate"],
    ),
    (&["get_signal"], &["signal:signal_deliver"], &["signal:signal_deliver"]),
    (&["oom_kill_process"], &["oom:mark_victim"], &["oom:mark_victim"]),
    (&["process_one_work"], &["workqueue:workqueue_execute_start"], &["workqueue:workqueue_execute_end"]),
    (&["do_init_module", "load_module"], &["module:module_load"], &["module:module_load"]),
];

/// Prefixes the kernel puts before a syscall's name in the functions that implement it.
const SYSCALL_PREFIXES: &[&str] = &["__x64_sys_", "__ia32_sys_", "__se_sys_", "__do_sys_", "ksys_", "sys_"];

/// The syscall a function implements, by its name (`__x64_sys_openat` → `openat`).
fn syscall_of(func: &str) -> Option<&str> {
    SYSCALL_PREFIXES.iter().find_map(|p| func.strip_prefix(p)).filter(|s| !s.is_empty())
}

/// Candidate tracepoints (`category:event`) for `func`, before checking which exist.
pub fn candidates(func: &str, ret: bool) -> Vec<String> {
    if let Some((_, enter, exit)) = TABLE.iter().find(|(funcs, _, _)| funcs.contains(&func)) {
        return (if ret { exit } else { enter }).iter().map(|s| s.to_string()).collect();
    }
    match syscall_of(func) {
        Some(sc) => vec![format!("syscalls:sys_{}_{sc}", if ret { "exit" } else { "enter" })],
        None => vec![],
    }
}

/// A word of `func` to search tracepoint names for: without the `vfs_`/`do_`/syscall-style
/// prefixes, and its last `_` part when that is long enough to mean something (`vfs_read` →
/// `read`, `tcp_sendmsg` → `sendmsg`).
pub fn search_word(func: &str) -> &str {
    let mut stem = func.trim_start_matches('_');
    for p in ["x64_sys_", "ia32_sys_", "se_sys_", "do_sys_", "ksys_", "sys_", "vfs_", "do_"] {
        if let Some(s) = stem.strip_prefix(p) {
            stem = s.trim_start_matches('_');
            break;
        }
    }
    match stem.rsplit_once('_') {
        Some((_, last)) if last.len() >= 4 => last,
        _ if stem.is_empty() => func,
        _ => stem,
    }
}

/// The hint lines for a function that cannot be probed: tracepoints of this kernel that cover
/// it, then how to search for others. `exists` says whether a `category:event` tracepoint
/// exists here (`None` from it: unknown, keep the candidate).
pub fn hints(func: &str, ret: bool, exists: &dyn Fn(&str) -> Option<bool>) -> Vec<String> {
    let found: Vec<String> = candidates(func, ret)
        .into_iter()
        .filter(|c| exists(c) != Some(false))
        .map(|c| format!("tracepoint:{c}"))
        .collect();
    let mut out = vec![];
    if !found.is_empty() {
        out.push(format!("{} {} what {func} does", found.join(", "), if found.len() == 1 { "sees" } else { "see" }));
    }
    out.push(format!("ferret -l 'tracepoint:*{}*' lists tracepoints by name", search_word(func)));
    out
}

/// Whether tracepoint `category:event` exists on this kernel (`None` when tracefs cannot say).
pub fn tracepoint_exists(cat_event: &str) -> Option<bool> {
    let (cat, ev) = cat_event.split_once(':')?;
    let root = ferret_sys::tracefs::root().ok()?;
    let events = root.join("events");
    if !events.is_dir() {
        return None;
    }
    Some(events.join(cat).join(ev).is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_syscall_rule() {
        assert_eq!(candidates("vfs_read", false)[0], "syscalls:sys_enter_read");
        assert_eq!(candidates("vfs_read", true)[0], "syscalls:sys_exit_read");
        assert_eq!(candidates("__x64_sys_openat", false), ["syscalls:sys_enter_openat"]);
        assert_eq!(candidates("ksys_fallocate", true), ["syscalls:sys_exit_fallocate"]);
        assert!(candidates("some_driver_fn", false).is_empty());
    }

    #[test]
    fn search_words() {
        assert_eq!(search_word("vfs_read"), "read");
        assert_eq!(search_word("tcp_sendmsg"), "sendmsg");
        assert_eq!(search_word("__x64_sys_openat"), "openat");
        assert_eq!(search_word("do_nanosleep"), "nanosleep");
        assert_eq!(search_word("kfree"), "kfree");
        assert_eq!(search_word("__"), "__");
    }

    #[test]
    fn hints_keep_existing_tracepoints() {
        let only_read = |c: &str| Some(c == "syscalls:sys_enter_read");
        assert_eq!(
            hints("vfs_read", false, &only_read),
            [
                "tracepoint:syscalls:sys_enter_read sees what vfs_read does",
                "ferret -l 'tracepoint:*read*' lists tracepoints by name"
            ]
        );
        let unknown = |_: &str| None;
        assert_eq!(hints("kfree", false, &unknown)[0], "tracepoint:kmem:kfree sees what kfree does");
        assert_eq!(hints("my_fn", false, &unknown), ["ferret -l 'tracepoint:*my_fn*' lists tracepoints by name"]);
    }
}
