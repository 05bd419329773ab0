//! The fuzzer's corpus tool:
//! - `corpus write DIR` writes the seed corpus (`tributary_fuzz::seeds`);
//! - `corpus check DIR` fails if a committed seed is not what `write` would write, or if a seed
//!   breaks an invariant or fails a step that should succeed;
//! - `corpus replay FILE...` runs inputs (a finding, minimised) and prints every step, its
//!   result and the invariant that broke: the reproducer.

use std::{
	panic::{catch_unwind, AssertUnwindSafe},
	path::PathBuf,
	process::ExitCode,
};

fn main() -> ExitCode {
	let args: Vec<String> = std::env::args().skip(1).collect();
	match args.split_first() {
		Some((command, [dir])) if command == "write" => seeds(&PathBuf::from(dir), false),
		Some((command, [dir])) if command == "check" => seeds(&PathBuf::from(dir), true),
		Some((command, files)) if command == "replay" && !files.is_empty() => replay(files),
		_ => {
			eprintln!("usage: corpus write DIR | corpus check DIR | corpus replay FILE...");
			ExitCode::from(2)
		}
	}
}

fn seeds(dir: &std::path::Path, check: bool) -> ExitCode {
	tributary_fuzz::prepare();
	tributary_fuzz::set_quiet(true);
	let seeds = tributary_fuzz::seeds::seeds();
	let mut failed = 0;
	for seed in &seeds {
		let path = dir.join(seed.name);
		let bytes = tributary_fuzz::encode(&seed.steps);
		if check {
			if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
				eprintln!(
					"{}: stale or missing; run `corpus write {}`",
					path.display(),
					dir.display()
				);
				failed += 1;
				continue;
			}
		} else if let Err(error) = std::fs::write(&path, &bytes) {
			eprintln!("{}: {error}", path.display());
			return ExitCode::FAILURE;
		}
		let outcome = catch_unwind(AssertUnwindSafe(|| tributary_fuzz::run(&bytes)));
		let ok = outcome.as_ref().is_ok_and(|outcome| {
			outcome.dispatched == seed.steps.len() && outcome.succeeded >= seed.must_succeed
		});
		match &outcome {
			Ok(outcome) => println!(
				"{} {}: {} steps, {} dispatched, {} succeeded (at least {} must), {} blocks",
				if ok { "ok  " } else { "FAIL" },
				seed.name,
				seed.steps.len(),
				outcome.dispatched,
				outcome.succeeded,
				seed.must_succeed,
				outcome.blocks
			),
			Err(_) => println!("FAIL {}: an invariant broke", seed.name),
		}
		if !ok {
			failed += 1;
			tributary_fuzz::set_quiet(false);
			let _ = catch_unwind(AssertUnwindSafe(|| tributary_fuzz::run(&bytes)));
			tributary_fuzz::set_quiet(true);
		}
	}
	println!("{} passed, {failed} failed", seeds.len() - failed);
	if failed == 0 {
		ExitCode::SUCCESS
	} else {
		ExitCode::FAILURE
	}
}

fn replay(files: &[String]) -> ExitCode {
	tributary_fuzz::prepare();
	tributary_fuzz::set_quiet(false);
	let mut broke = 0;
	for file in files {
		println!("==> {file}");
		let bytes = match std::fs::read(file) {
			Ok(bytes) => bytes,
			Err(error) => {
				eprintln!("{file}: {error}");
				return ExitCode::FAILURE;
			}
		};
		if catch_unwind(AssertUnwindSafe(|| tributary_fuzz::run(&bytes))).is_err() {
			broke += 1;
		}
	}
	println!("{} inputs, {broke} broke an invariant or panicked", files.len());
	if broke == 0 {
		ExitCode::SUCCESS
	} else {
		ExitCode::FAILURE
	}
}
