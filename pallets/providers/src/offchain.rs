//! The operator's key and the off-chain worker's heartbeats.
//!
//! A provider's node holds its operator key in its keystore under [`crypto::KEY_TYPE`]
//! (`trib`, sr25519); `tributary-node --dev` inserts Alice's. Each block, the off-chain worker
//! sends `heartbeat` for every local operator key whose provider is due one (and not in
//! maintenance), so a running node keeps its provider `Online` by itself. The inference
//! pallet's worker signs results with the same key.

use alloc::vec;

use codec::Encode;
use polkadot_sdk::{
	frame_support::pallet_prelude::*,
	frame_system::{
		offchain::{Account, SendSignedTransaction, Signer},
		pallet_prelude::*,
	},
	sp_runtime::{offchain::storage::StorageValueRef, traits::Saturating},
};

use crate::{Call, Config, Pallet, ProviderOfOperator, Providers};

/// The operator key's crypto: its key type and the signer the runtime configures.
pub mod crypto {
	use polkadot_sdk::{
		sp_core::{crypto::KeyTypeId, sr25519},
		sp_runtime::{
			app_crypto::{app_crypto, sr25519 as app_sr25519},
			MultiSignature, MultiSigner,
		},
	};

	/// The keystore key type of operator keys.
	pub const KEY_TYPE: KeyTypeId = KeyTypeId(*b"trib");

	app_crypto!(app_sr25519, KEY_TYPE);

	/// Signs the off-chain workers' transactions with a local operator key.
	pub struct OperatorAuthId;

	impl polkadot_sdk::frame_system::offchain::AppCrypto<MultiSigner, MultiSignature>
		for OperatorAuthId
	{
		type RuntimeAppPublic = Public;
		type GenericSignature = sr25519::Signature;
		type GenericPublic = sr25519::Public;
	}
}

/// The persistent off-chain storage prefix of "heartbeat sent at block n", per operator.
const HEARTBEAT_SENT: &[u8] = b"tributary/providers/heartbeat-sent/";

const LOG_TARGET: &str = "runtime::providers";

impl<T: Config> Pallet<T> {
	/// Sends a heartbeat for each local operator key whose provider is due one.
	pub(crate) fn send_heartbeats(now: BlockNumberFor<T>) {
		for account in Signer::<T, T::AuthorityId>::keystore_accounts() {
			Self::heartbeat_if_due(now, &account);
		}
	}

	fn heartbeat_if_due(now: BlockNumberFor<T>, account: &Account<T>) {
		let Some(provider) = ProviderOfOperator::<T>::get(&account.id) else { return };
		let Some(record) = Providers::<T>::get(&provider) else { return };
		let interval = T::HeartbeatInterval::get();
		if record.maintenance || now < record.last_heartbeat.saturating_add(interval) {
			return;
		}
		// A heartbeat sent and not yet in a block is sent again only an interval later.
		let key = (HEARTBEAT_SENT, &account.id).encode();
		let mut sent = StorageValueRef::persistent(&key);
		let claimed = sent.mutate(|last: Result<Option<BlockNumberFor<T>>, _>| match last {
			Ok(Some(at)) if at >= record.last_heartbeat && now < at.saturating_add(interval) => {
				Err(())
			}
			_ => Ok(now),
		});
		if claimed.is_err() {
			return;
		}
		let sent_ok = Signer::<T, T::AuthorityId>::all_accounts()
			.with_filter(vec![account.public.clone()])
			.send_signed_transaction(|_| Call::heartbeat {})
			.into_iter()
			.any(|(_, result)| result.is_ok());
		if sent_ok {
			log::info!(target: LOG_TARGET, "heartbeat sent for provider {provider:?} at block {now:?}");
		} else {
			log::warn!(target: LOG_TARGET, "heartbeat for provider {provider:?} not accepted by the pool; retrying next block");
			sent.clear();
		}
	}
}

/// Off-chain signing for mock runtimes whose accounts are `u64`s: keys are
/// [`UintAuthorityId`](polkadot_sdk::sp_runtime::testing::UintAuthorityId)s (set with
/// `UintAuthorityId::set_all_keys`), each signing as the account of its number, and a signed
/// transaction is an `UncheckedExtrinsic<u64, RuntimeCall, (), ()>` naming its signer.
#[cfg(feature = "std")]
pub mod testing {
	use polkadot_sdk::sp_runtime::testing::{TestSignature, UintAuthorityId};

	/// The mock runtimes' [`Config::AuthorityId`](crate::Config::AuthorityId).
	pub struct MockAuthId;

	impl polkadot_sdk::frame_system::offchain::AppCrypto<UintAuthorityId, TestSignature>
		for MockAuthId
	{
		type RuntimeAppPublic = UintAuthorityId;
		type GenericSignature = TestSignature;
		type GenericPublic = UintAuthorityId;
	}

	/// The off-chain worker's view of the world in a test: its HTTP and off-chain storage, and
	/// the transaction pool it submits to.
	pub struct OffchainHarness {
		pub http: std::sync::Arc<
			parking_lot::RwLock<polkadot_sdk::sp_core::offchain::testing::OffchainState>,
		>,
		pub pool: std::sync::Arc<
			parking_lot::RwLock<polkadot_sdk::sp_core::offchain::testing::PoolState>,
		>,
	}

	/// Registers an off-chain worker's extensions on `ext` (HTTP, persistent storage, the
	/// transaction pool) and makes `keys` the local operator keys.
	pub fn offchain_harness(
		ext: &mut polkadot_sdk::sp_io::TestExternalities,
		keys: impl IntoIterator<Item = u64>,
	) -> OffchainHarness {
		use polkadot_sdk::sp_core::offchain::{
			testing::{TestOffchainExt, TestTransactionPoolExt},
			OffchainDbExt, OffchainWorkerExt, TransactionPoolExt,
		};
		let (offchain, http) = TestOffchainExt::new();
		let (pool, pool_state) = TestTransactionPoolExt::new();
		ext.register_extension(OffchainWorkerExt::new(offchain.clone()));
		ext.register_extension(OffchainDbExt::new(offchain));
		ext.register_extension(TransactionPoolExt::new(pool));
		UintAuthorityId::set_all_keys(keys);
		OffchainHarness { http, pool: pool_state }
	}

	impl OffchainHarness {
		/// The calls submitted so far, each with its signer, oldest first; the pool is emptied.
		pub fn take_signed<Call: codec::DecodeWithMemTracking>(&self) -> Vec<(u64, Call)> {
			use codec::Decode;
			core::mem::take(&mut self.pool.write().transactions)
				.into_iter()
				.map(|tx| {
					let xt = MockExtrinsic::<Call>::decode(&mut &tx[..]).expect("a mock extrinsic");
					let signer = match xt.preamble {
						polkadot_sdk::sp_runtime::generic::Preamble::Signed(who, ..) => who,
						other => panic!("not a signed transaction: {other:?}"),
					};
					(signer, xt.function)
				})
				.collect()
		}
	}

	/// A mock runtime's signed transactions.
	pub type MockExtrinsic<Call> =
		polkadot_sdk::sp_runtime::generic::UncheckedExtrinsic<u64, Call, (), ()>;

	/// Implements off-chain signing for the mock runtime `$runtime` (accounts `u64`).
	#[macro_export]
	macro_rules! impl_mock_offchain_signing {
		($runtime:ty, $call:ty) => {
			impl polkadot_sdk::frame_system::offchain::SigningTypes for $runtime {
				type Public = polkadot_sdk::sp_runtime::testing::UintAuthorityId;
				type Signature = polkadot_sdk::sp_runtime::testing::TestSignature;
			}

			impl<C> polkadot_sdk::frame_system::offchain::CreateTransactionBase<C> for $runtime
			where
				$call: From<C>,
			{
				type Extrinsic = $crate::offchain::testing::MockExtrinsic<$call>;
				type RuntimeCall = $call;
			}

			impl<C> polkadot_sdk::frame_system::offchain::CreateSignedTransaction<C> for $runtime
			where
				$call: From<C>,
			{
				fn create_signed_transaction<
					A: polkadot_sdk::frame_system::offchain::AppCrypto<Self::Public, Self::Signature>,
				>(
					call: $call,
					_public: Self::Public,
					account: u64,
					_nonce: Self::Nonce,
				) -> Option<Self::Extrinsic> {
					Some($crate::offchain::testing::MockExtrinsic::new_signed(
						call,
						account,
						(),
						(),
					))
				}
			}
		};
	}
}
