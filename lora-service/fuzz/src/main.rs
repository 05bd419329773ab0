//! The parser fuzz target: `cargo ziggy build` builds it for AFL++; built plainly, it runs the
//! files it is given (scripts/fuzz.sh --lora).

fn main() {
	ziggy::fuzz!(|data: &[u8]| {
		tributary_lora::fuzzing::run(data);
	});
}
