//! The fuzzing target: `cargo ziggy build` builds it for AFL++ and honggfuzz; built plainly, it
//! runs the files it is given and prints each step (`cargo ziggy run`, scripts/fuzz.sh).

fn main() {
	tributary_fuzz::prepare();
	ziggy::fuzz!(|data: &[u8]| {
		tributary_fuzz::run(data);
	});
}
