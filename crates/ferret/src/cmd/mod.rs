//! Subcommands: `ferret COMMAND [options]`, beside bpftrace's own spellings (`ferret -e`,
//! `ferret script.bt`). A subcommand is one file here with its options (clap derive) and its run
//! function, plus one line in [`COMMANDS`]; the tools, the exporter and the packet filter come
//! in this way.
use std::ffi::{OsStr, OsString};

mod info;

/// One subcommand.
pub struct Command {
    pub name: &'static str,
    /// One line for `ferret --help`.
    pub about: &'static str,
    /// Run with the arguments after the name (the program name first, as clap expects);
    /// returns the exit code.
    pub run: fn(Vec<OsString>) -> i32,
}

/// Every subcommand but the tools, in the order `ferret --help` lists them.
pub static COMMANDS: &[Command] = &[
    info::COMMAND,
    Command { name: "tools", about: "list the BCC-style tools (ferret TOOL --help for each)", run: crate::tools::list },
];

/// The subcommand or tool `arg` names. A file of that name in the current directory wins:
/// `ferret info` runs a script called `info` when there is one, as bpftrace would.
pub fn find(arg: &OsStr) -> Option<&'static Command> {
    let c = COMMANDS.iter().chain(crate::tools::TOOLS).find(|c| OsStr::new(c.name) == arg)?;
    (!std::path::Path::new(arg).exists()).then_some(c)
}

/// (name, about) of every subcommand, for the help (the tools are listed by `ferret tools`).
pub fn summaries() -> Vec<(&'static str, &'static str)> {
    COMMANDS.iter().map(|c| (c.name, c.about)).collect()
}

/// Parse a subcommand's options with clap: `--help` and errors print as clap prints them, and
/// exit with its code (0 for help, 2 for a usage error), as clap-based tools do.
pub fn parse<T: clap::Parser>(args: Vec<OsString>) -> Result<T, i32> {
    T::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        e.exit_code()
    })
}
