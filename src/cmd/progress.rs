//! `knip progress`: a patient's progress over weeks from the progress database, or the list of
//! patients.

use crate::cli::{require, ProgressArgs};

pub fn run(a: ProgressArgs) -> anyhow::Result<()> {
    let ProgressArgs { patient, out, db } = a;
    let path = super::db_path(db)?;
    require(
        path.exists(),
        format!(
            "{}: no progress database yet; analyse a session with --patient ID, or fill one \
             with `knip progress-fill --patient ID`",
            path.display()
        ),
    )?;
    let conn = knip::progress::open(&path)?;
    match patient {
        None => {
            let list = knip::progress::patients(&conn)?;
            println!("{}: {} patient(s)", path.display(), list.len());
            for (id, n) in list {
                println!("  {id}  {n} sessions");
            }
        }
        Some(id) => {
            let r = knip::progress::write_report(&conn, &id, &out)?;
            let trained = r.days.iter().filter(|d| d.sessions > 0).count();
            println!(
                "patient {id}: {} sessions on {trained} of {} days; wrote {}",
                r.sessions,
                r.days.len(),
                r.files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}
