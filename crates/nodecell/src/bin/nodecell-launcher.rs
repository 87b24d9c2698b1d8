//! Builds one sandbox and execs Node inside it; started by the nodecell host, never by hand.

fn main() {
    nodecell::launch::main()
}
