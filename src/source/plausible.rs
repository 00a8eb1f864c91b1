//! How large a sample value can be and still be a measurement, per unit: the one place for the
//! bound beyond which a value is garbage (a device glitch, an overflow, a typo such as `1e308`)
//! and is counted as a lost sample instead of being analysed.
//!
//! The bounds are far outside anything a body produces, so no real sample is ever dropped:
//! - EMG: 1e6 µV (1 V). Clinical units take 0.2–2000 µV (DOMAIN.md); an amplifier saturates
//!   long before a volt.
//! - Pressure: 1000 cmH2O (and the same in other pressure units). A perineometer is inflated to
//!   about 100 cmH2O and maximal squeezes add well under 100 (DOMAIN.md); probes are rated for a
//!   few hundred.
//! - Any other unit (ADC counts, arbitrary units): 1e9, more than a 24-bit converter counts.

/// The largest |value| that is a measurement in `unit` (as a file or device names it).
pub fn max_abs(unit: &str) -> f64 {
    let u: String = unit
        .trim()
        .chars()
        .map(|c| match c {
            'µ' | 'μ' => 'u',
            c => c.to_ascii_lowercase(),
        })
        .filter(|c| !c.is_whitespace())
        .collect();
    match u.as_str() {
        "uv" | "microvolt" | "microvolts" => 1e6,
        "mv" | "millivolt" | "millivolts" => 1e3,
        "v" | "volt" | "volts" => 1.0,
        "cmh2o" | "cmh₂o" => 1_000.0,
        "mmhg" => 750.0,
        "hpa" | "mbar" => 1_000.0,
        "kpa" => 100.0,
        "pa" => 100_000.0,
        _ => 1e9,
    }
}

/// `max_abs` for messages: `±1e6 uV`.
pub fn describe(unit: &str) -> String {
    let m = max_abs(unit);
    let unit = crate::limits::excerpt(unit, 20);
    if m >= 1e5 {
        format!("±{m:e} {unit}")
    } else {
        format!("±{m} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_per_unit() {
        assert_eq!(max_abs("µV"), 1e6);
        assert_eq!(max_abs("uV"), 1e6);
        assert_eq!(max_abs(" mV "), 1e3);
        assert_eq!(max_abs("cmH2O"), 1000.0);
        assert_eq!(max_abs("mmHg"), 750.0);
        assert_eq!(max_abs("ADC counts"), 1e9);
        assert_eq!(describe("uV"), "±1e6 uV");
        assert_eq!(describe("cmH2O"), "±1000 cmH2O");
    }
}
