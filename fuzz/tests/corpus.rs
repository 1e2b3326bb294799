//! The fuzz targets on stable, in the ordinary test run: every committed
//! corpus input (`fuzz/corpus/TARGET/*`, the seeds and whatever libFuzzer
//! runs added for the record) goes through its target's body, then a few
//! thousand inputs from a fixed-seed generator, so a property that breaks
//! fails here without a nightly toolchain. Coverage-guided search is
//! `fuzz/run.sh`'s job.

use std::path::PathBuf;

use blobgate_fuzz::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// xorshift64*: reproducible inputs without a dependency.
struct Inputs(u64);

impl Inputs {
    fn next(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        let len = (self.word() % 512) as usize;
        while bytes.len() < len {
            bytes.extend_from_slice(&self.word().to_le_bytes());
        }
        bytes.truncate(len);
        bytes
    }

    fn word(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn every_target_has_a_committed_corpus() {
    for target in TARGETS {
        let dir = corpus_dir(target.name);
        let inputs = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .count();
        assert!(inputs > 0, "{} has no seed inputs", dir.display());
    }
}

#[test]
fn corpora_replay_without_a_failed_property() {
    for target in TARGETS {
        let Ok(entries) = std::fs::read_dir(corpus_dir(target.name)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable corpus directory").path();
            let data = std::fs::read(&path).expect("readable corpus file");
            let outcome = std::panic::catch_unwind(|| (target.run)(&data));
            assert!(
                outcome.is_ok(),
                "{}: {} failed",
                target.name,
                path.display()
            );
        }
    }
}

#[test]
fn generated_inputs_hold_every_property() {
    for (i, target) in TARGETS.iter().enumerate() {
        let mut inputs = Inputs(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
        for _ in 0..2_000 {
            let data = inputs.next();
            let outcome = std::panic::catch_unwind(|| (target.run)(&data));
            assert!(outcome.is_ok(), "{}: failed on {data:02x?}", target.name);
        }
    }
}
