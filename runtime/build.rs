#[cfg(all(feature = "std", feature = "metadata-hash"))]
fn main() {
	// The hash of the metadata goes into the runtime, so that `CheckMetadataHash` can check
	// the hash an offline signer signed (RFC-0078): token symbol and decimals as on chain.
	substrate_wasm_builder::WasmBuilder::init_with_defaults()
		.enable_metadata_hash("TRIB", 12)
		.build();
}

#[cfg(all(feature = "std", not(feature = "metadata-hash")))]
fn main() {
	substrate_wasm_builder::WasmBuilder::build_using_defaults();
}

#[cfg(not(feature = "std"))]
fn main() {}
