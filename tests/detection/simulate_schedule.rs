//! The simulated patient's schedule, truth, cues, configuration and block stream.

use knip::frame::Role;
use knip::simulate::{
    parse_conditions, protocol_names, Condition, SimConfig, SimError, SimulatedPatient,
};
use knip::source::Source;
use knip::truth::{TruthEvent, TruthKind};

fn cfg(protocol: &str, seed: u64) -> SimConfig {
    SimConfig {
        protocol: protocol.to_string(),
        seed,
        ..SimConfig::default()
    }
}

fn patient(protocol: &str, seed: u64) -> SimulatedPatient {
    SimulatedPatient::new(&cfg(protocol, seed)).expect("valid config")
}

/// All samples of every channel, concatenated, checking index continuity on the way.
fn collect(p: &mut SimulatedPatient) -> Vec<Vec<f64>> {
    let n = p.spec().channels.len();
    let mut out = vec![Vec::new(); n];
    while let Some(block) = p.next_block().expect("simulator never fails") {
        assert_eq!(block.chunks.len(), n);
        for (c, chunk) in block.chunks.iter().enumerate() {
            assert_eq!(chunk.start_index, out[c].len() as u64, "gap or overlap");
            out[c].extend_from_slice(&chunk.samples);
        }
    }
    out
}

fn rows<'a>(
    t: &'a [TruthEvent],
    role: Role,
    kind: TruthKind,
) -> impl Iterator<Item = &'a TruthEvent> + 'a {
    t.iter().filter(move |e| e.role == role && e.kind == kind)
}

const PROTOCOLS: [&str; 3] = ["identify", "strength", "mixed"];

#[test]
fn same_seed_same_everything_different_seed_different() {
    let mut a = patient("identify", 11);
    let mut b = patient("identify", 11);
    let mut c = patient("identify", 12);
    assert_eq!(a.truth(), b.truth());
    assert_eq!(a.cues(), b.cues());
    assert_eq!(
        serde_json::to_string(a.params()).unwrap(),
        serde_json::to_string(b.params()).unwrap()
    );
    assert_ne!(a.truth(), c.truth());
    assert_ne!(a.params().pfm_rest_floor_uv, c.params().pfm_rest_floor_uv);
    let (sa, sb, sc) = (collect(&mut a), collect(&mut b), collect(&mut c));
    assert_eq!(sa, sb, "same seed must give bit-identical samples");
    for ch in 0..3 {
        let n = sa[ch].len().min(sc[ch].len());
        let same = (0..n).filter(|&i| sa[ch][i] == sc[ch][i]).count();
        assert!(
            same < n / 100,
            "channel {ch}: seeds 11 and 12 share {same} samples"
        );
    }
}

#[test]
fn samples_do_not_depend_on_block_length() {
    let mut reference = None;
    for block_s in [0.05, 0.0173, 1.0, 0.001] {
        let mut p = SimulatedPatient::new(&SimConfig {
            block_s,
            ..cfg("identify", 5)
        })
        .unwrap();
        let s = collect(&mut p);
        match &reference {
            None => reference = Some(s),
            Some(r) => assert_eq!(r, &s, "block_s = {block_s}"),
        }
    }
}

#[test]
fn blocks_follow_the_device_clock() {
    for (emg, pres, block_s) in [
        (2000.0, 100.0, 0.05),
        (1000.0, 50.0, 0.033),
        (512.0, 64.0, 0.25),
        (250.0, 10.0, 0.1),
    ] {
        let mut p = SimulatedPatient::new(&SimConfig {
            emg_rate_hz: emg,
            pressure_rate_hz: pres,
            block_s,
            ..cfg("identify", 2)
        })
        .unwrap();
        let spec = p.spec().clone();
        assert_eq!(spec.start_time_s, 0.0);
        let roles: Vec<Role> = spec.channels.iter().map(|c| c.role).collect();
        assert_eq!(roles, Role::ALL.to_vec());
        let rates: Vec<f64> = spec.channels.iter().map(|c| c.rate_hz).collect();
        assert_eq!(rates, vec![emg, emg, pres]);
        let mut next = [0u64; 3];
        let mut k = 0u64;
        while let Some(b) = p.next_block().unwrap() {
            let (t0, t1) = (k as f64 * block_s, (k + 1) as f64 * block_s);
            for (c, chunk) in b.chunks.iter().enumerate() {
                let fs = spec.channels[c].rate_hz;
                assert_eq!(chunk.start_index, next[c]);
                if !chunk.samples.is_empty() {
                    assert!(chunk.start_index as f64 / fs >= t0 - 1e-9);
                    assert!(chunk.start_index as f64 / fs < t1);
                    assert!((chunk.end_index() - 1) as f64 / fs < t1 - 1e-9);
                }
                // Every sample with a time in [t0, t1) is in this block.
                assert!(
                    chunk.end_index() as f64 / fs >= t1 - 1e-9
                        || chunk.end_index() as f64 / fs >= p.duration_s() - 1e-9
                );
                next[c] = chunk.end_index();
            }
            k += 1;
        }
        for (n, ch) in next.iter().zip(&spec.channels) {
            assert_eq!(*n, (p.duration_s() * ch.rate_hz - 1e-6).ceil() as u64);
        }
        assert_eq!(k, (p.duration_s() / block_s - 1e-6).ceil() as u64);
        assert!(p.next_block().unwrap().is_none(), "stays ended");
    }
}

#[test]
fn roles_choose_channels_order_and_truth() {
    let full = patient("mixed", 4);
    let mut sub = SimulatedPatient::new(&SimConfig {
        roles: vec![Role::Pressure, Role::PfmEmg],
        ..cfg("mixed", 4)
    })
    .unwrap();
    let roles: Vec<Role> = sub.spec().channels.iter().map(|c| c.role).collect();
    assert_eq!(roles, vec![Role::Pressure, Role::PfmEmg]);
    assert_eq!(sub.spec().channels[0].rate_hz, 100.0);
    assert_eq!(sub.spec().channels[1].rate_hz, 2000.0);
    assert!(sub.truth().iter().all(|e| e.role != Role::AbdEmg));
    let kept: Vec<&TruthEvent> = full
        .truth()
        .iter()
        .filter(|e| e.role != Role::AbdEmg)
        .collect();
    assert_eq!(kept, sub.truth().iter().collect::<Vec<_>>());
    // The same patient: the channels asked for do not change the samples.
    let mut full = full;
    let a = collect(&mut full);
    let b = collect(&mut sub);
    assert_eq!(a[2], b[0]);
    assert_eq!(a[0], b[1]);
}

#[test]
fn bad_configs_are_refused_with_advice() {
    match SimulatedPatient::new(&cfg("marathon", 1)) {
        Err(SimError::UnknownProtocol { name, known }) => {
            assert_eq!(name, "marathon");
            for p in PROTOCOLS {
                assert!(known.contains(p), "{known}");
            }
        }
        other => panic!("expected UnknownProtocol, got {other:?}"),
    }
    let bad = [
        SimConfig {
            emg_rate_hz: 0.0,
            ..SimConfig::default()
        },
        SimConfig {
            pressure_rate_hz: f64::NAN,
            ..SimConfig::default()
        },
        SimConfig {
            block_s: 0.0,
            ..SimConfig::default()
        },
        SimConfig {
            roles: vec![],
            ..SimConfig::default()
        },
        SimConfig {
            roles: vec![Role::PfmEmg, Role::PfmEmg],
            ..SimConfig::default()
        },
    ];
    for c in bad {
        assert!(
            matches!(SimulatedPatient::new(&c), Err(SimError::BadConfig(_))),
            "{c:?}"
        );
    }
    let d = SimConfig::default();
    assert_eq!((d.protocol.as_str(), d.seed), ("strength", 1));
    assert_eq!(
        (d.emg_rate_hz, d.pressure_rate_hz, d.block_s),
        (2000.0, 100.0, 0.05)
    );
    assert_eq!(d.roles, Role::ALL.to_vec());
    let names: Vec<&str> = protocol_names().iter().map(|(n, _)| *n).collect();
    for p in PROTOCOLS {
        assert!(names.contains(&p));
    }
    assert!(protocol_names().iter().all(|(_, d)| !d.is_empty()));
}

#[test]
fn truth_is_sorted_non_overlapping_and_after_calibration() {
    for protocol in PROTOCOLS {
        for seed in 1..=12 {
            let p = patient(protocol, seed);
            let t = p.truth();
            let dur = p.duration_s();
            assert!(
                t.windows(2).all(|w| w[0].onset_s <= w[1].onset_s),
                "{protocol}/{seed}: not sorted"
            );
            for e in t {
                assert!(
                    e.onset_s >= 10.0,
                    "{protocol}/{seed}: {e:?} inside the calibration rest"
                );
                assert!(e.offset_s > e.onset_s);
                assert!(
                    e.offset_s <= dur - 5.0,
                    "{protocol}/{seed}: {e:?} in the final rest"
                );
                assert!(e.amplitude > 0.0);
            }
            for role in Role::ALL {
                let c: Vec<&TruthEvent> = t
                    .iter()
                    .filter(|e| {
                        e.role == role
                            && (e.kind.is_contraction()
                                || e.kind == TruthKind::Strain
                                || e.kind == TruthKind::Coactivation)
                    })
                    .collect();
                for w in c.windows(2) {
                    assert!(
                        w[1].onset_s >= w[0].offset_s + 1.5,
                        "{protocol}/{seed}: {:?} overlaps {:?}",
                        w[0],
                        w[1]
                    );
                }
            }
            let n_contr = rows(t, Role::PfmEmg, TruthKind::Squeeze).count()
                + rows(t, Role::PfmEmg, TruthKind::QuickFlick).count();
            assert_eq!(n_contr as u32, p.params().contraction_count);
            // The same contractions on pressure, same times.
            let pfm: Vec<(f64, f64)> = t
                .iter()
                .filter(|e| e.role == Role::PfmEmg && e.kind.is_contraction())
                .map(|e| (e.onset_s, e.offset_s))
                .collect();
            let pres: Vec<(f64, f64)> = t
                .iter()
                .filter(|e| e.role == Role::Pressure && e.kind.is_contraction())
                .map(|e| (e.onset_s, e.offset_s))
                .collect();
            assert_eq!(pfm, pres);
        }
    }
}

#[test]
fn coughs_keep_away_from_contractions_except_the_knack() {
    let mut spontaneous_seen = 0;
    for protocol in PROTOCOLS {
        for seed in 1..=12 {
            let p = patient(protocol, seed);
            let t = p.truth();
            let contractions: Vec<&TruthEvent> = t
                .iter()
                .filter(|e| e.role == Role::PfmEmg && (e.kind.is_contraction()))
                .collect();
            let strains: Vec<&TruthEvent> = rows(t, Role::Pressure, TruthKind::Strain).collect();
            let coughs: Vec<&TruthEvent> = rows(t, Role::PfmEmg, TruthKind::Cough).collect();
            assert_eq!(coughs.len() as u32, p.params().cough_count);
            assert_eq!(
                rows(t, Role::AbdEmg, TruthKind::Cough).count(),
                coughs.len()
            );
            assert_eq!(
                rows(t, Role::Pressure, TruthKind::Cough).count(),
                coughs.len()
            );
            let mut knack = 0;
            for c in &coughs {
                let inside = contractions
                    .iter()
                    .find(|s| s.onset_s < c.onset_s && c.offset_s < s.offset_s);
                if let Some(s) = inside {
                    // A knack: squeeze first, cough ~1 s in, held ≥ 1 s after.
                    knack += 1;
                    assert!(c.onset_s - s.onset_s >= 0.8 - 1e-9);
                    assert!(s.offset_s - c.offset_s >= 1.0);
                } else {
                    for s in contractions.iter().chain(strains.iter()) {
                        let gap = (c.onset_s - s.offset_s).max(s.onset_s - c.offset_s);
                        assert!(
                            gap >= 2.0,
                            "{protocol}/{seed}: cough {c:?} {gap} s from {s:?}"
                        );
                    }
                }
            }
            let expected_knack = if protocol == "mixed" { 2 } else { 0 };
            assert_eq!(knack, expected_knack, "{protocol}/{seed}");
            let instructed = if protocol == "mixed" { 3 } else { 0 };
            assert_eq!(
                coughs.len() as u32,
                instructed + knack + p.params().spontaneous_cough_count
            );
            assert!(p.params().spontaneous_cough_count <= 2);
            spontaneous_seen += p.params().spontaneous_cough_count;
        }
    }
    assert!(spontaneous_seen > 0);
}

#[test]
fn strength_fails_between_8_and_30_reps() {
    let mut ns = Vec::new();
    for seed in 1..=20 {
        let p = patient("strength", seed);
        let n = p.params().reps_to_failure;
        assert!((8..=30).contains(&n), "seed {seed}: {n}");
        ns.push(n);
        let t = p.truth();
        let holds: Vec<&TruthEvent> = rows(t, Role::PfmEmg, TruthKind::Squeeze).collect();
        assert_eq!(holds.len() as u32, n, "seed {seed}");
        let rep1 = holds[0].amplitude;
        for (i, h) in holds.iter().enumerate() {
            assert_eq!(h.rep, i as u32 + 1);
            let dur = h.offset_s - h.onset_s;
            if (i as u32) < n - 1 {
                assert!(dur >= 5.1 + 0.15, "seed {seed} rep {}: {dur} s", h.rep);
                assert!(h.amplitude >= 0.55 * rep1, "seed {seed} rep {}", h.rep);
            } else {
                assert!(dur < 5.0 && dur > 2.0, "failing rep lasts {dur} s");
                assert!(h.amplitude < 0.5 * rep1);
            }
        }
        // Fatigue: amplitude falls over the set.
        assert!(holds[n as usize - 2].amplitude < 0.8 * rep1);
        let p_holds: Vec<&TruthEvent> = rows(t, Role::Pressure, TruthKind::Squeeze).collect();
        assert!(p_holds[n as usize - 1].amplitude < 0.5 * p_holds[0].amplitude);
        // Then 5 quick flicks, 0.6–1.0 s, 2–3 s apart.
        let flicks: Vec<&TruthEvent> = rows(t, Role::PfmEmg, TruthKind::QuickFlick).collect();
        assert_eq!(flicks.len(), 5);
        assert!(flicks[0].onset_s > holds.last().unwrap().offset_s);
        for f in &flicks {
            let d = f.offset_s - f.onset_s;
            assert!((0.6 - 1e-9..=1.0).contains(&d), "flick {d} s");
        }
        for w in flicks.windows(2) {
            let gap = w[1].onset_s - w[0].offset_s;
            let cough_between = rows(t, Role::PfmEmg, TruthKind::Cough)
                .any(|c| c.onset_s > w[0].offset_s && c.offset_s < w[1].onset_s);
            if !cough_between {
                assert!((2.0 - 1e-9..=3.0).contains(&gap), "flick gap {gap}");
            }
        }
        assert!(p.params().pfm_median_hz_at_failure < 0.72 * p.params().pfm_median_hz_rep1);
    }
    ns.sort_unstable();
    ns.dedup();
    assert!(
        ns.len() >= 6,
        "reps to failure barely vary across seeds: {ns:?}"
    );
}

#[test]
fn identify_gives_ten_cued_squeezes() {
    for seed in 1..=10 {
        let p = patient("identify", seed);
        let s: Vec<&TruthEvent> = rows(p.truth(), Role::PfmEmg, TruthKind::Squeeze).collect();
        assert_eq!(s.len(), 10);
        assert_eq!(
            p.truth()
                .iter()
                .filter(|e| e.kind == TruthKind::Strain)
                .count(),
            0
        );
        let cues: Vec<_> = p.cues().iter().filter(|c| c.text == "Squeeze").collect();
        assert_eq!(cues.len(), 10);
        for (e, c) in s.iter().zip(&cues) {
            assert_eq!(e.rep, c.rep);
            let reaction = e.onset_s - c.time_s;
            assert!(
                (0.15 - 1e-9..=0.6).contains(&reaction),
                "reaction {reaction}"
            );
            let d = e.offset_s - e.onset_s;
            assert!((1.8 + 0.15 - 1e-9..=2.6 + 0.4).contains(&d), "duration {d}");
            assert_eq!(c.duration_s, 2.0);
        }
        for w in s.windows(2) {
            assert!(w[1].onset_s - w[0].offset_s >= 2.0);
        }
    }
}

#[test]
fn mixed_has_a_bit_of_everything() {
    let mut lead_seen = false;
    for seed in 1..=12 {
        let p = patient("mixed", seed);
        let t = p.truth();
        assert_eq!(rows(t, Role::PfmEmg, TruthKind::Squeeze).count(), 6 + 6 + 2);
        assert_eq!(rows(t, Role::PfmEmg, TruthKind::QuickFlick).count(), 5);
        assert_eq!(rows(t, Role::Pressure, TruthKind::Strain).count(), 2);
        assert_eq!(rows(t, Role::AbdEmg, TruthKind::Strain).count(), 2);
        assert_eq!(rows(t, Role::PfmEmg, TruthKind::Strain).count(), 0);
        assert_eq!(p.params().strain_count, 2);
        // Everything separated by ≥ 2.5 s of rest (knack coughs aside).
        let mut ev: Vec<(f64, f64)> = t
            .iter()
            .filter(|e| e.role == Role::Pressure)
            .map(|e| (e.onset_s, e.offset_s))
            .collect();
        ev.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut last_end = f64::MIN;
        for (on, off) in ev {
            if on < last_end {
                // a knack cough inside its squeeze
                continue;
            }
            assert!(
                on - last_end >= 2.2,
                "seed {seed}: only {} s rest before {on}",
                on - last_end
            );
            last_end = off;
        }
        // Co-activation rows: one per co-activated contraction, onset −0.2…+0.1 s around it.
        let co: Vec<&TruthEvent> = rows(t, Role::AbdEmg, TruthKind::Coactivation).collect();
        assert_eq!(co.len() as u32, p.params().coactivated_count);
        for c in &co {
            let pelvic = t
                .iter()
                .filter(|e| e.role == Role::PfmEmg && e.kind.is_contraction())
                .min_by(|a, b| {
                    (a.onset_s - c.onset_s)
                        .abs()
                        .total_cmp(&(b.onset_s - c.onset_s).abs())
                })
                .unwrap();
            let lead = pelvic.onset_s - c.onset_s;
            assert!((-0.1 - 1e-9..=0.2 + 1e-9).contains(&lead), "lead {lead}");
            assert_eq!(c.rep, pelvic.rep);
            assert!(c.amplitude >= 1.5 * p.params().abd_rest_floor_uv - 1e-9);
            lead_seen |= lead > 0.1;
        }
    }
    assert!(
        lead_seen,
        "no co-activation started > 100 ms before the pelvic floor"
    );
}

#[test]
fn cues_tile_the_session() {
    for protocol in PROTOCOLS {
        let p = patient(protocol, 3);
        let c = p.cues();
        assert_eq!(c[0].text, "Rest");
        assert_eq!((c[0].time_s, c[0].duration_s), (0.0, 10.0));
        for w in c.windows(2) {
            assert!(
                (w[0].time_s + w[0].duration_s - w[1].time_s).abs() < 1e-9,
                "{:?} {:?}",
                w[0],
                w[1]
            );
        }
        let last = c.last().unwrap();
        assert!((last.time_s + last.duration_s - p.duration_s()).abs() < 1e-9);
        for cue in c {
            assert!([
                "Rest",
                "Squeeze",
                "Relax",
                "Quick squeeze",
                "Cough",
                "Squeeze and cough"
            ]
            .contains(&cue.text.as_str()));
        }
    }
}

#[test]
fn long_session_is_an_hour() {
    let p = patient("long", 1);
    assert!(
        p.duration_s() >= 3600.0 && p.duration_s() < 3900.0,
        "{}",
        p.duration_s()
    );
    assert!(p.truth().len() > 1000);
}

#[test]
fn same_patient_in_every_protocol() {
    let a = patient("identify", 9);
    let b = patient("mixed", 9);
    assert_eq!(a.params().pfm_rest_floor_uv, b.params().pfm_rest_floor_uv);
    assert_eq!(a.params().mains_hz, b.params().mains_hz);
    assert_eq!(a.params().reps_to_failure, b.params().reps_to_failure);
    let json = serde_json::to_value(a.params()).unwrap();
    for key in [
        "pfm_rest_floor_uv",
        "abd_rest_floor_uv",
        "pfm_level_uv",
        "mains_hz",
        "ecg_amplitude_uv",
        "heart_rate_bpm",
        "pressure_rest_cmh2o",
        "squeeze_pressure_cmh2o",
        "coactivation_share",
        "strain_count",
        "fatigue_rate_per_rep",
        "reps_to_failure",
    ] {
        assert!(json.get(key).is_some(), "{key} missing");
    }
}

#[test]
fn parameters_span_their_ranges() {
    let ps: Vec<_> = (1..=40)
        .map(|s| patient("identify", s).params().clone())
        .collect();
    let span = |f: &dyn Fn(&knip::simulate::PatientParams) -> f64| {
        let v: Vec<f64> = ps.iter().map(f).collect();
        (
            v.iter().cloned().fold(f64::MAX, f64::min),
            v.iter().cloned().fold(f64::MIN, f64::max),
        )
    };
    let (lo, hi) = span(&|p| p.pfm_rest_floor_uv);
    assert!(lo >= 2.0 && hi <= 7.0 && hi - lo > 3.0);
    let (lo, hi) = span(&|p| p.snr);
    assert!(lo < 5.0 && hi > 15.0, "SNR from {lo} to {hi}");
    let (lo, hi) = span(&|p| p.pfm_level_uv);
    assert!(lo >= 7.0 && hi <= 150.0);
    let (lo, hi) = span(&|p| p.mains_hz);
    assert_eq!((lo, hi), (50.0, 60.0));
    let (lo, hi) = span(&|p| p.heart_rate_bpm);
    assert!(lo >= 55.0 && hi <= 90.0);
    let (lo, hi) = span(&|p| p.pressure_rest_cmh2o);
    assert!(lo >= 17.0 && hi <= 21.0);
    let (lo, hi) = span(&|p| p.coactivation_share);
    assert!(lo >= 0.0 && hi <= 0.5);
}

/// FNV-1a over every sample's bits and every truth row: a fingerprint of a whole session.
fn fingerprint(sim: &SimConfig) -> u64 {
    let mut p = SimulatedPatient::new(sim).expect("valid config");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for e in p.truth() {
        eat(e.role as u64);
        eat(e.onset_s.to_bits());
        eat(e.offset_s.to_bits());
        eat(e.amplitude.to_bits());
        eat(u64::from(e.rep));
        eat(e.kind.as_str().len() as u64);
    }
    for ch in collect(&mut p) {
        eat(ch.len() as u64);
        for v in ch {
            eat(v.to_bits());
        }
    }
    h
}

/// Sessions without conditions are exactly what they were before conditions existed
/// (simulator version 1): the fingerprints match the sessions `knip simulate` wrote before the
/// conditions were added (compared file by file).
#[test]
fn sessions_without_conditions_are_unchanged() {
    let got: Vec<(String, u64, u64)> = [("identify", 1), ("strength", 2), ("mixed", 3)]
        .iter()
        .map(|&(proto, seed)| (proto.to_string(), seed, fingerprint(&cfg(proto, seed))))
        .collect();
    println!("{got:?}");
    let want: [u64; 3] = [
        3_201_397_195_956_843_548,
        4_805_490_948_539_575_060,
        1_917_744_128_794_755_980,
    ];
    for ((proto, seed, g), w) in got.iter().zip(want) {
        assert_eq!(*g, w, "{proto} seed {seed}: samples or truth changed");
    }
}

fn with(protocol: &str, seed: u64, conditions: &[Condition]) -> SimulatedPatient {
    SimulatedPatient::new(&SimConfig {
        conditions: conditions.to_vec(),
        ..cfg(protocol, seed)
    })
    .expect("valid config")
}

#[test]
fn condition_names_parse_and_a_bad_one_lists_them_all() {
    assert_eq!(parse_conditions(&["all"]).unwrap(), Condition::ALL.to_vec());
    assert_eq!(
        parse_conditions(&["weak", "dc_offset,weak"]).unwrap(),
        vec![Condition::DcOffset, Condition::Weak]
    );
    for c in Condition::ALL {
        assert_eq!(Condition::parse(c.name()), Some(c));
    }
    let e = parse_conditions(&["creep"]).unwrap_err();
    assert!(matches!(e, SimError::UnknownCondition { .. }));
    let msg = e.to_string();
    for c in Condition::ALL {
        assert!(msg.contains(c.name()), "{msg}");
    }
    let none = patient("mixed", 3);
    let json = serde_json::to_string(none.params()).unwrap();
    assert!(!json.contains("conditions"), "{json}");
}

/// Each condition draws from its own stream: the same parameters alone or with all others,
/// and a condition that does not touch a channel leaves its samples alone.
#[test]
fn conditions_do_not_reshuffle_each_other() {
    for seed in 1..=3 {
        let all = with("mixed", seed, &Condition::ALL);
        let ca = &all.params().conditions;
        for c in Condition::ALL {
            let one = with("mixed", seed, &[c]);
            let co = &one.params().conditions;
            match c {
                Condition::CalibrationSqueeze => {
                    assert_eq!(co.calibration_squeeze, ca.calibration_squeeze)
                }
                Condition::DcOffset => assert_eq!(co.dc_offset, ca.dc_offset),
                Condition::QuietRest => assert_eq!(co.quiet_rest, ca.quiet_rest),
                Condition::InflationCreep => assert_eq!(co.inflation_creep, ca.inflation_creep),
                Condition::ProbeSlip => {
                    let (a, b) = (co.probe_slip.unwrap(), ca.probe_slip.unwrap());
                    assert_eq!((a.step_cmh2o, a.duration_s), (b.step_cmh2o, b.duration_s));
                }
                Condition::Weak => assert_eq!(co.weak, ca.weak),
                Condition::WanderingRest => assert_eq!(co.wandering_rest, ca.wandering_rest),
                Condition::Pressure20Hz | Condition::Pressure50Hz => {}
            }
        }
        // Pressure-only conditions leave EMG and truth as they were, and the reverse.
        let mut base = patient("mixed", seed);
        let base_truth = base.truth().to_vec();
        let b = collect(&mut base);
        let mut p = with(
            "mixed",
            seed,
            &[
                Condition::InflationCreep,
                Condition::ProbeSlip,
                Condition::WanderingRest,
            ],
        );
        assert_eq!(p.truth(), &base_truth[..]);
        let x = collect(&mut p);
        assert_eq!((&x[0], &x[1]), (&b[0], &b[1]), "seed {seed}: EMG changed");
        assert_ne!(x[2], b[2]);
        let mut p = with("mixed", seed, &[Condition::DcOffset]);
        assert_eq!(collect(&mut p)[2], b[2], "seed {seed}: pressure changed");
    }
}

/// The calibration squeeze: one squeeze on pelvic EMG and pressure inside 0.5–5.5 s; every
/// other truth row is the session's own.
#[test]
fn calibration_squeeze_is_inside_the_calibration_window() {
    for seed in 1..=12 {
        let protocol = PROTOCOLS[seed as usize % 3];
        let base = patient(protocol, seed);
        let p = with(protocol, seed, &[Condition::CalibrationSqueeze]);
        let cs = p.params().conditions.calibration_squeeze.expect("drawn");
        assert!((0.8..=3.0).contains(&cs.onset_s), "{cs:?}");
        assert!((1.5..=3.0).contains(&cs.hold_s), "{cs:?}");
        assert!((0.8..=1.0).contains(&cs.level_rel), "{cs:?}");
        let early: Vec<&TruthEvent> = p.truth().iter().filter(|e| e.onset_s < 10.0).collect();
        assert_eq!(early.len(), 2, "{early:?}");
        for e in &early {
            assert_eq!(e.kind, TruthKind::Squeeze);
            assert_eq!(e.rep, 0);
            assert!(e.onset_s >= 0.5 && e.offset_s <= 5.5, "{e:?}");
            assert!((e.onset_s - cs.onset_s).abs() < 1e-12);
        }
        let roles: Vec<Role> = early.iter().map(|e| e.role).collect();
        assert!(roles.contains(&Role::PfmEmg) && roles.contains(&Role::Pressure));
        let rest: Vec<TruthEvent> = p
            .truth()
            .iter()
            .filter(|e| e.onset_s >= 10.0)
            .cloned()
            .collect();
        assert_eq!(rest, base.truth(), "seed {seed}");
        assert_eq!(
            p.params().contraction_count,
            base.params().contraction_count + 1
        );
        let pfm_amp = early.iter().find(|e| e.role == Role::PfmEmg).unwrap();
        assert!((pfm_amp.amplitude / p.params().pfm_level_uv - cs.level_rel).abs() < 1e-9);
    }
}

/// The slip lands in rest: after 15 s, ≥ 1.5 s from every truth row, ≥ 1.5 s before the end.
#[test]
fn probe_slip_lands_in_rest_away_from_every_event() {
    for seed in 1..=12 {
        let protocol = PROTOCOLS[seed as usize % 3];
        let p = with(protocol, seed, &[Condition::ProbeSlip]);
        let slip = p.params().conditions.probe_slip.expect("drawn");
        let t0 = slip.time_s.expect("a session has room for a slip");
        let t1 = t0 + slip.duration_s;
        assert!(t0 >= 15.0 && t1 <= p.duration_s() - 1.5, "{t0}");
        for e in p.truth() {
            assert!(
                t1 <= e.onset_s - 1.5 || t0 >= e.offset_s + 1.5,
                "seed {seed}: slip at {t0:.2} s too near {e:?}"
            );
        }
    }
}

#[test]
fn slow_pressure_sensors_set_the_rate_and_guided_sessions_refuse_conditions() {
    for (conds, rate) in [
        (vec![Condition::Pressure20Hz], 20.0),
        (vec![Condition::Pressure50Hz], 50.0),
        (Condition::ALL.to_vec(), 20.0),
    ] {
        let p = with("identify", 2, &conds);
        assert_eq!(p.spec().channels[2].rate_hz, rate);
        assert_eq!(p.spec().channels[0].rate_hz, 2000.0);
        let s = p.params().conditions.pressure_sensor.expect("drawn");
        assert_eq!((s.rate_hz, s.resolution_cmh2o), (rate, 0.1));
    }
    let phases = knip::session::protocol::calibration_phases();
    let e = SimulatedPatient::guided(
        &SimConfig {
            conditions: vec![Condition::Weak],
            ..SimConfig::default()
        },
        &phases,
    )
    .unwrap_err();
    assert!(e.to_string().contains("guided"), "{e}");
}
