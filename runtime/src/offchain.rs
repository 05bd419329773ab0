//! The runtime's off-chain side: how off-chain workers sign their transactions, and what the
//! node hands them.
//!
//! Off-chain workers (providers' heartbeats, inference results) sign with the node's operator
//! key (key type `trib`, sr25519, [`OPERATOR_KEY_TYPE`]), as the account of that key, through
//! the same transaction extensions as any signed transaction.
//!
//! The node writes the LoRA service's URL (its `--lora-service-url`) into its persistent
//! off-chain storage when it starts, under [`LORA_SERVICE_URL_KEY`], as a SCALE-encoded
//! `Vec<u8>` holding the URL's UTF-8 bytes. Off-chain workers read it with
//! [`lora_service_url`]; clients can read it with the `offchain_localStorageGet` RPC
//! (`PERSISTENT` storage).
//!
//! When the node is given the service's API key (`--lora-service-api-key-file`), it writes it
//! the same way under [`LORA_SERVICE_API_KEY_KEY`] and removes it when started without one;
//! the worker sends it as a bearer token. The off-chain storage RPC
//! (`offchain_localStorageGet`/`Set`) is an unsafe method: a node serves it on loopback under
//! the default `--rpc-methods auto`, and not at all under `--rpc-methods safe`, which a
//! provider whose RPC anyone else reaches runs with (the node warns otherwise).
//!
//! The inference pallet's off-chain worker ([`pallet_inference::offchain`]) calls the service
//! there.

use polkadot_sdk::*;

use crate::{
	AccountId, Nonce, Runtime, RuntimeCall, Signature, System, TxExtension, UncheckedExtrinsic,
};

/// The persistent off-chain storage key of the LoRA service URL, and its reader (callable only
/// from an off-chain context: an off-chain worker, or a test with the off-chain extensions).
pub use pallet_inference::offchain::{
	lora_service_api_key, lora_service_url, LORA_SERVICE_API_KEY_KEY, LORA_SERVICE_URL_KEY,
};

/// The keystore key type of operator keys, which sign the off-chain workers' transactions.
pub use pallet_providers::offchain::crypto::KEY_TYPE as OPERATOR_KEY_TYPE;

impl frame_system::offchain::SigningTypes for Runtime {
	type Public = <Signature as sp_runtime::traits::Verify>::Signer;
	type Signature = Signature;
}

impl<C> frame_system::offchain::CreateTransactionBase<C> for Runtime
where
	RuntimeCall: From<C>,
{
	type Extrinsic = UncheckedExtrinsic;
	type RuntimeCall = RuntimeCall;
}

impl<C> frame_system::offchain::CreateSignedTransaction<C> for Runtime
where
	RuntimeCall: From<C>,
{
	fn create_signed_transaction<
		A: frame_system::offchain::AppCrypto<Self::Public, Self::Signature>,
	>(
		call: RuntimeCall,
		public: Self::Public,
		account: AccountId,
		nonce: Nonce,
	) -> Option<UncheckedExtrinsic> {
		use codec::Encode;
		use sp_runtime::{
			generic::{Era, SignedPayload},
			traits::{SaturatedConversion, StaticLookup},
		};
		// Mortal for the longest power of two within the block hashes kept.
		let period = polkadot_runtime_common::BlockHashCount::get()
			.checked_next_power_of_two()
			.map(|c| c / 2)
			.unwrap_or(2) as u64;
		let current = System::block_number().saturated_into::<u64>().saturating_sub(1);
		let extension: TxExtension = (
			frame_system::CheckNonZeroSender::<Runtime>::new(),
			frame_system::CheckSpecVersion::<Runtime>::new(),
			frame_system::CheckTxVersion::<Runtime>::new(),
			frame_system::CheckGenesis::<Runtime>::new(),
			frame_system::CheckEra::<Runtime>::from(Era::mortal(period, current)),
			frame_system::CheckNonce::<Runtime>::from(nonce),
			frame_system::CheckWeight::<Runtime>::new(),
			pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(0),
			frame_metadata_hash_extension::CheckMetadataHash::<Runtime>::new(false),
		)
			.into();
		let payload = SignedPayload::new(call, extension)
			.map_err(|e| log::warn!(target: "runtime::offchain", "cannot sign: {e:?}"))
			.ok()?;
		let signature = payload.using_encoded(|bytes| A::sign(bytes, public))?;
		let (call, extension, _) = payload.deconstruct();
		let address = <Runtime as frame_system::Config>::Lookup::unlookup(account);
		Some(UncheckedExtrinsic::new_signed(call, address, signature, extension))
	}
}

/// Stores the LoRA service URL where [`lora_service_url`] finds it. The node calls this with
/// its off-chain database when it starts.
#[cfg(feature = "std")]
pub fn store_lora_service_url<S: sp_core::offchain::OffchainStorage>(storage: &mut S, url: &str) {
	use codec::Encode;
	storage.set(
		sp_offchain::STORAGE_PREFIX,
		LORA_SERVICE_URL_KEY,
		&url.as_bytes().to_vec().encode(),
	);
}

/// Stores the LoRA service's API key where [`lora_service_api_key`] finds it, or removes a key
/// stored by an earlier start when there is none now.
#[cfg(feature = "std")]
pub fn store_lora_service_api_key<S: sp_core::offchain::OffchainStorage>(
	storage: &mut S,
	key: Option<&str>,
) {
	use codec::Encode;
	match key {
		Some(key) => storage.set(
			sp_offchain::STORAGE_PREFIX,
			LORA_SERVICE_API_KEY_KEY,
			&key.as_bytes().to_vec().encode(),
		),
		None => storage.remove(sp_offchain::STORAGE_PREFIX, LORA_SERVICE_API_KEY_KEY),
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::offchain::{
		storage::{InMemOffchainStorage, OffchainDb},
		OffchainDbExt,
	};

	fn with_node_storage(storage: InMemOffchainStorage, check: impl FnOnce()) {
		let mut ext = sp_io::TestExternalities::default();
		// The same database wrapper the node gives its off-chain workers.
		ext.register_extension(OffchainDbExt::new(OffchainDb::new(storage)));
		ext.execute_with(check);
	}

	#[test]
	fn url_stored_by_the_node_is_read_by_offchain_workers() {
		let mut storage = InMemOffchainStorage::default();
		store_lora_service_url(&mut storage, "http://127.0.0.1:8181");
		with_node_storage(storage, || {
			assert_eq!(lora_service_url(), Some(b"http://127.0.0.1:8181".to_vec()));
		});
	}

	#[test]
	fn a_restart_with_another_url_replaces_it() {
		let mut storage = InMemOffchainStorage::default();
		store_lora_service_url(&mut storage, "http://127.0.0.1:8181");
		store_lora_service_url(&mut storage, "http://10.0.0.7:9000");
		with_node_storage(storage, || {
			assert_eq!(lora_service_url(), Some(b"http://10.0.0.7:9000".to_vec()));
		});
	}

	#[test]
	fn an_api_key_is_stored_and_a_start_without_one_removes_it() {
		let mut storage = InMemOffchainStorage::default();
		store_lora_service_api_key(&mut storage, Some("s3cret"));
		with_node_storage(storage.clone(), || {
			assert_eq!(lora_service_api_key(), Some(b"s3cret".to_vec()));
		});
		store_lora_service_api_key(&mut storage, None);
		with_node_storage(storage, || assert_eq!(lora_service_api_key(), None));
	}

	#[test]
	fn no_url_reads_as_none() {
		with_node_storage(InMemOffchainStorage::default(), || {
			assert_eq!(lora_service_url(), None);
		});
	}
}
