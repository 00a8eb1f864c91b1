//! `knip devices`: the serial ports of this machine and the wire format each probably speaks.

use crate::cli::DevicesArgs;
use anyhow::Context;

pub fn run(a: DevicesArgs) -> anyhow::Result<()> {
    let DevicesArgs {
        probe,
        listen_s,
        baud,
    } = a;
    match probe {
        Some(path) => {
            let r = knip::device::probe_port(
                &path,
                baud,
                std::time::Duration::from_secs_f64(listen_s.max(0.1)),
            )?;
            println!(
                "{}: {} ({} bytes in {listen_s} s)",
                r.path,
                r.format.unwrap_or("unknown format"),
                r.bytes
            );
            println!("  {}", r.detail);
        }
        None => {
            let ports = knip::device::list_ports()
                .context("cannot list the serial ports of this machine")?;
            print!("{}", knip::device::format_ports(&ports));
        }
    }
    Ok(())
}
