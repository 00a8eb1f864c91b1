//! `knip protocols`: the built-in protocols.

use knip::simulate::protocol_names;

pub fn run() -> anyhow::Result<()> {
    println!("Guided sessions (knip session / knip demo --protocol NAME, or a .toml file):");
    for p in knip::session::protocol::builtin_protocols() {
        println!("  {:10} {}", p.name, p.description);
    }
    println!("Simulator-only protocols (knip simulate, knip evaluate, knip demo):");
    for (name, description) in protocol_names() {
        println!("  {name:10} {description}");
    }
    Ok(())
}
