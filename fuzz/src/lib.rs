//! The runtime fuzzer's harness: an input is a sequence of steps, each "advance this many
//! blocks, then dispatch this call from this account", run against the native runtime from
//! the development genesis (with a rich, a poor and an empty account added). The chain's
//! invariants are checked after every call and every block; a broken one panics, which the
//! fuzzing engines record as a crash, and the runner (`cargo ziggy run`, or the seed test)
//! prints the steps that led there.
//!
//! Built the way SRLabs' substrate-runtime-fuzzer is: calls are dispatched directly, not
//! through transactions (no fees, no nonces), from signed origins; Root and the collectives'
//! origins are reached as on the real chain, through `Sudo` (Alice holds the key) and council
//! or technical-committee motions (Alice, Bob and Charlie sit on both).

use std::{
	cell::{Cell, RefCell},
	panic::{catch_unwind, resume_unwind, AssertUnwindSafe},
};

use polkadot_sdk::*;

use codec::{DecodeLimit, Encode};
use cumulus_primitives_core::{
	relay_chain::{well_known_keys, HeadData},
	PersistedValidationData,
};
use cumulus_test_relay_sproof_builder::RelayStateSproofBuilder;
use frame_support::{
	dispatch::GetDispatchInfo,
	traits::{Get, IntegrityTest, TryState, TryStateSelect},
	weights::Weight,
};
use sp_consensus_aura::{Slot, AURA_ENGINE_ID};
use sp_externalities::Externalities as _;

use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	traits::{Dispatchable, Header as _},
	BuildStorage, Digest, DigestItem, Storage,
};
use sp_state_machine::BasicExternalities;

use tributary_runtime::{
	genesis_config_presets::{self, PARACHAIN_ID},
	AccountId, AllPalletsWithSystem, Balance, Executive, Header, ParachainSystem, Runtime,
	RuntimeCall, RuntimeGenesisConfig, RuntimeOrigin, Timestamp, EXISTENTIAL_DEPOSIT,
	MAXIMUM_BLOCK_WEIGHT, SLOT_DURATION, TRIB,
};

/// How deep a call may nest (batches in batches, sudo in a motion): the decoder's limit.
pub const MAX_DECODE_DEPTH: u32 = 64;
/// The most blocks one step advances; a larger count is cut to it.
pub const MAX_BLOCKS_PER_STEP: u8 = 32;
/// The most blocks one input advances in all, so that every input runs in bounded time. Long
/// enough for requests to time out (20 blocks) and providers to go offline (100 blocks).
pub const MAX_BLOCKS_PER_INPUT: u32 = 512;
/// The most steps one input runs; the rest of a longer input is ignored.
pub const MAX_STEPS: usize = 256;
/// The block the fuzzed sequence starts in (block 1 is built with the genesis).
const FIRST_BLOCK: u32 = 2;

/// One step of an input: advance `blocks` blocks, then dispatch `call` signed by
/// `accounts()[origin % accounts().len()]`.
pub type Step = (u8, u8, RuntimeCall);

/// The rich account: a thousand development endowments.
pub const RICH: [u8; 32] = [0xaa; 32];
/// The poor account: ten existential deposits.
pub const POOR: [u8; 32] = [0xbb; 32];
/// An account that holds nothing.
pub const EMPTY: [u8; 32] = [0xcc; 32];

/// The accounts a step's origin byte picks from, in this order: Alice (sudo, collator, council,
/// technical committee, the sample provider and its operator, the sample dataset's curator and
/// model's owner), Bob and Charlie (council, technical committee; contributors), Dave
/// (contributor), Eve, then the rich, the poor and the empty account.
pub fn accounts() -> Vec<AccountId> {
	let mut accounts: Vec<AccountId> = [
		Sr25519Keyring::Alice,
		Sr25519Keyring::Bob,
		Sr25519Keyring::Charlie,
		Sr25519Keyring::Dave,
		Sr25519Keyring::Eve,
	]
	.iter()
	.map(|k| k.to_account_id())
	.collect();
	accounts.extend([RICH, POOR, EMPTY].map(AccountId::from));
	accounts
}

mod host;
pub mod seeds;

/// The index in [`accounts`] of each named account, for seeds and tests.
pub mod who {
	pub const ALICE: u8 = 0;
	pub const BOB: u8 = 1;
	pub const CHARLIE: u8 = 2;
	pub const DAVE: u8 = 3;
	pub const EVE: u8 = 4;
	pub const RICH: u8 = 5;
	pub const POOR: u8 = 6;
	pub const EMPTY: u8 = 7;
}

/// Decodes an input into its steps: as many as decode, up to [`MAX_STEPS`].
pub fn decode(mut data: &[u8]) -> Vec<Step> {
	std::iter::from_fn(|| Step::decode_with_depth_limit(MAX_DECODE_DEPTH, &mut data).ok())
		.take(MAX_STEPS)
		.collect()
}

/// Encodes steps as an input.
pub fn encode(steps: &[Step]) -> Vec<u8> {
	steps.iter().flat_map(Encode::encode).collect()
}

/// The development genesis with the fuzzer's extra accounts endowed, block 1 built, and block
/// 2 initialised: every input starts from this state.
pub fn genesis_storage() -> Storage {
	let preset = genesis_config_presets::get_preset(&sp_genesis_builder::DEV_RUNTIME_PRESET.into())
		.expect("the development preset exists");
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default())
		.expect("the default genesis config serialises");
	merge(&mut config, serde_json::from_slice(&preset).expect("the preset is JSON"));
	let balances = config["balances"]["balances"].as_array_mut().expect("balances is a list");
	for (account, amount) in [(RICH, 1_000_000_000 * TRIB), (POOR, 10 * EXISTENTIAL_DEPOSIT)] {
		balances.push(serde_json::json!([AccountId::from(account), amount]));
	}
	let config: RuntimeGenesisConfig =
		serde_json::from_value(config).expect("the merged config is a genesis config");
	let mut storage = config.build_storage().expect("the development genesis builds");
	BasicExternalities::execute_with_storage(&mut storage, || {
		AllPalletsWithSystem::integrity_test();
		initialize_block(1, None);
		let header = Executive::finalize_block();
		initialize_block(FIRST_BLOCK, Some(&header));
	});
	storage
}

/// RFC 7386 merge, as the node merges a preset into the default genesis config.
fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
	match (base, patch) {
		(serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
			for (key, value) in patch {
				if value.is_null() {
					base.remove(&key);
				} else {
					merge(base.entry(key).or_insert(serde_json::Value::Null), value);
				}
			}
		}
		(base, patch) => *base = patch,
	}
}

/// What a run did, for the seed tests.
#[derive(Default, Debug)]
pub struct Outcome {
	/// Steps whose call was dispatched (not filtered, and fitting the block).
	pub dispatched: usize,
	/// Steps whose call succeeded.
	pub succeeded: usize,
	/// The blocks finalised.
	pub blocks: u32,
	/// Every event of the run, in order (not kept under a fuzzing engine).
	pub events: Vec<tributary_runtime::RuntimeEvent>,
}

thread_local! {
	/// The genesis state, built once a process: each input runs in a storage transaction on top
	/// of it that is rolled back afterwards, so no input sees another's changes and none pays
	/// for copying the state.
	static GENESIS: RefCell<Option<host::Host>> = const { RefCell::new(None) };
}

/// Builds the genesis state now rather than in the first run (before a fuzzing engine forks).
pub fn prepare() {
	GENESIS.with(|genesis| {
		genesis.borrow_mut().get_or_insert_with(|| host::Host::new(genesis_storage()));
	});
}

/// Runs one input from the genesis state. Panics, naming the invariant, when one breaks.
pub fn run(data: &[u8]) -> Outcome {
	let steps = decode(data);
	if steps.is_empty() {
		return Outcome::default();
	}
	prepare();
	GENESIS.with(|genesis| {
		let mut genesis = genesis.borrow_mut();
		let host = genesis.as_mut().expect("prepared above");
		host.storage_start_transaction();
		let result = catch_unwind(AssertUnwindSafe(|| {
			sp_externalities::set_and_run_with_externalities(&mut *host, || execute(steps))
		}));
		// Back to genesis, whatever the run left open (a panic leaves the runtime's own
		// transactions open too).
		while host.storage_rollback_transaction().is_ok() {}
		result.unwrap_or_else(|panic| resume_unwind(panic))
	})
}

fn execute(steps: Vec<Step>) -> Outcome {
	let mut outcome = Outcome::default();
	let accounts = accounts();
	let mut block = FIRST_BLOCK;
	let mut block_weight = Weight::zero();
	for (blocks, origin, call) in steps {
		for _ in 0..blocks.min(MAX_BLOCKS_PER_STEP) {
			if outcome.blocks >= MAX_BLOCKS_PER_INPUT {
				break;
			}
			let header = end_block(block, block_weight, &mut outcome);
			block += 1;
			block_weight = Weight::zero();
			initialize_block(block, Some(&header));
		}
		if let Some(reason) = filtered(&call) {
			say(|| format!("  skipped ({reason}): {call:?}"));
			continue;
		}
		let pre_weight = call.get_dispatch_info().call_weight;
		let normal_limit = normal_block_limit();
		if block_weight.saturating_add(pre_weight).any_gt(normal_limit) {
			say(|| format!("  skipped (does not fit the block): {call:?}"));
			continue;
		}
		let origin = accounts[usize::from(origin) % accounts.len()].clone();
		say(|| format!("\n  origin: {origin}\n  call:   {call:?}"));
		let issuance = total_issuance();
		let mints = mints_or_burns(&call);
		// As the executive notes a transaction before dispatching it (a signed transaction
		// ends with its call's bytes too, which is all `contribute` looks at).
		let encoded = call.encode();
		frame_system::Pallet::<Runtime>::note_extrinsic(encoded.clone());
		let extrinsic = frame_system::Pallet::<Runtime>::extrinsic_index().unwrap_or_default();
		let info = call.get_dispatch_info();
		let result = call.dispatch(RuntimeOrigin::signed(origin));
		say(|| format!("  result: {result:?}"));
		check_index_requests(extrinsic, &encoded, result.is_ok());
		frame_system::Pallet::<Runtime>::note_applied_extrinsic(&result, info);
		outcome.dispatched += 1;
		outcome.succeeded += usize::from(result.is_ok());
		let post_weight = match result {
			Ok(info) => info.actual_weight,
			Err(error) => error.post_info.actual_weight,
		}
		.unwrap_or(pre_weight);
		assert!(
			post_weight.all_lte(pre_weight),
			"actual weight {post_weight:?} exceeds pre-dispatch weight {pre_weight:?}"
		);
		assert!(
			mints || total_issuance() == issuance,
			"total issuance moved from {issuance} to {} in a call that neither mints nor burns",
			total_issuance()
		);
		block_weight = block_weight.saturating_add(post_weight);
	}
	end_block(block, block_weight, &mut outcome);
	outcome
}

/// What a node would index for the transaction just applied is its own bytes, under their hash,
/// and only for a call that succeeded: a node keeps index requests whatever became of the call.
fn check_index_requests(extrinsic: u32, encoded: &[u8], succeeded: bool) {
	for request in host::take_index_requests() {
		assert!(succeeded, "a failed call asked for its bytes to be indexed: {request:?}");
		assert_eq!(request.extrinsic, extrinsic, "an index request names another transaction");
		let size = request.size as usize;
		assert!(size <= encoded.len(), "an index request is longer than its transaction");
		let bytes = &encoded[encoded.len() - size..];
		assert_eq!(
			request.hash,
			sp_io::hashing::blake2_256(bytes).to_vec(),
			"indexed bytes are not what their hash names"
		);
	}
}

thread_local! {
	static QUIET: Cell<bool> = const { Cell::new(cfg!(fuzzing)) };
}

/// Silences (or not) the runner's account of each step, for tests that run many inputs.
pub fn set_quiet(quiet: bool) {
	QUIET.with(|q| q.set(quiet));
}

/// Prints a line of the run's account, except under a fuzzing engine.
fn say(line: impl FnOnce() -> String) {
	if !QUIET.with(Cell::get) {
		println!("{}", line());
	}
}

fn total_issuance() -> Balance {
	pallet_balances::TotalIssuance::<Runtime>::get()
}

/// What normal calls may use of a block.
fn normal_block_limit() -> Weight {
	<Runtime as frame_system::Config>::BlockWeights::get()
		.get(frame_support::dispatch::DispatchClass::Normal)
		.max_total
		.unwrap_or(MAXIMUM_BLOCK_WEIGHT)
}

/// Finalises `block`, checks every invariant, and returns its header.
fn end_block(block: u32, calls_weight: Weight, outcome: &mut Outcome) -> Header {
	let hooks = frame_system::Pallet::<Runtime>::block_weight().total();
	assert!(
		hooks.saturating_add(calls_weight).all_lte(MAXIMUM_BLOCK_WEIGHT),
		"block {block}: hooks {hooks:?} and calls {calls_weight:?} exceed the block weight"
	);
	if !cfg!(fuzzing) {
		outcome.events.extend(
			frame_system::Pallet::<Runtime>::read_events_no_consensus().map(|record| record.event),
		);
	}
	let issuance = total_issuance();
	let header = Executive::finalize_block();
	assert_eq!(total_issuance(), issuance, "block {block}: finalisation moved total issuance");
	check_invariants(block);
	outcome.blocks += 1;
	say(|| format!("block {block} finalised"));
	header
}

/// Starts block `number` as a collator would: an Aura pre-digest for its slot, the timestamp,
/// and relay-chain validation data whose state proof carries the relay chain's randomness.
fn initialize_block(number: u32, parent: Option<&Header>) {
	let slot = Slot::from(u64::from(number));
	let digest = Digest { logs: vec![DigestItem::PreRuntime(AURA_ENGINE_ID, slot.encode())] };
	let parent_hash = parent.map(|header| header.hash()).unwrap_or_default();
	let header = Header::new(number, Default::default(), Default::default(), parent_hash, digest);
	Executive::initialize_block(&header);
	Timestamp::set(RuntimeOrigin::none(), u64::from(number) * SLOT_DURATION)
		.expect("the timestamp is set once a block");

	let parent_head = HeadData(parent.unwrap_or(&header).encode());
	// A parachain slot is as long as a relay-chain slot, so block n sits on relay slot n.
	let sproof = RelayStateSproofBuilder {
		para_id: PARACHAIN_ID.into(),
		current_slot: slot,
		included_para_head: Some(parent_head.clone()),
		// No relay-chain authorities: with no relay parent offset the runtime reads none, and
		// generating their keys would cost more than the rest of the block.
		num_authorities: 0,
		additional_key_values: vec![(
			well_known_keys::CURRENT_BLOCK_RANDOMNESS.to_vec(),
			Some(sp_io::hashing::blake2_256(&number.encode())).encode(),
		)],
		..Default::default()
	};
	let (relay_parent_storage_root, relay_chain_state) = sproof.into_state_root_and_proof();
	let data = cumulus_pallet_parachain_system::parachain_inherent::BasicParachainInherentData {
		validation_data: PersistedValidationData {
			parent_head,
			relay_parent_number: number,
			relay_parent_storage_root,
			max_pov_size: 5 * 1024 * 1024,
		},
		relay_chain_state,
		relay_parent_descendants: Vec::new(),
		collator_peer_id: None,
	};
	let messages = cumulus_pallet_parachain_system::parachain_inherent::InboundMessagesData::new(
		Default::default(),
		Default::default(),
	);
	ParachainSystem::set_validation_data(RuntimeOrigin::none(), data, messages)
		.expect("validation data is set once a block");
}

/// The invariants that hold after every block: balances add up account by account and in
/// total, no account is kept alive by nothing, and every pallet's `try_state`.
fn check_invariants(block: u32) {
	let mut counted: Balance = 0;
	for (account, info) in frame_system::Account::<Runtime>::iter() {
		assert!(
			info.consumers == 0 || info.providers > 0 || info.sufficients > 0,
			"block {block}: {account} has {} consumers and no providers",
			info.consumers
		);
		counted = counted.saturating_add(info.data.free).saturating_add(info.data.reserved);
		let holds: Balance = pallet_balances::Holds::<Runtime>::get(&account)
			.iter()
			.map(|hold| hold.amount)
			.fold(0, Balance::saturating_add);
		assert!(
			holds <= info.data.reserved,
			"block {block}: {account} holds {holds}, more than its reserved {}",
			info.data.reserved
		);
		let locks = pallet_balances::Locks::<Runtime>::get(&account)
			.iter()
			.map(|lock| lock.amount)
			.max()
			.unwrap_or(0);
		let freezes = pallet_balances::Freezes::<Runtime>::get(&account)
			.iter()
			.map(|freeze| freeze.amount)
			.max()
			.unwrap_or(0);
		assert_eq!(
			info.data.frozen,
			locks.max(freezes),
			"block {block}: {account}'s frozen balance is not its largest lock or freeze"
		);
	}
	assert_eq!(
		total_issuance(),
		counted,
		"block {block}: total issuance differs from the sum of all accounts"
	);
	AllPalletsWithSystem::try_state(block, TryStateSelect::All)
		.unwrap_or_else(|error| panic!("block {block}: try_state failed: {error:?}"));
}

/// Whether the call, or a call it carries, is one the fuzzer does not dispatch, and why.
/// As SRLabs' harnesses do, System's calls (which rewrite storage and code at will) are out;
/// so are the calls that declare their own weight (their weight is the caller's word), the
/// upgrade path, Root dispatching as an arbitrary origin (inherents included), raw XCM
/// execution, the call that changes total issuance without an account by design, and one
/// governance misstep that polkadot-sdk's collator selection accepts and its own try_state then
/// refuses.
pub fn filtered(call: &RuntimeCall) -> Option<&'static str> {
	use pallet_utility::Call as Utility;
	let mut found = None;
	visit(call, &mut |call| {
		let reason = match call {
			RuntimeCall::System(_) => Some("System"),
			RuntimeCall::ParachainSystem(_) => Some("code upgrades and inherents"),
			RuntimeCall::Timestamp(_) => Some("an inherent"),
			RuntimeCall::Sudo(pallet_sudo::Call::sudo_unchecked_weight { .. })
			| RuntimeCall::Utility(Utility::with_weight { .. }) => Some("declares its own weight"),
			RuntimeCall::Utility(Utility::dispatch_as { .. })
			| RuntimeCall::Utility(Utility::dispatch_as_fallible { .. }) => {
				Some("Root dispatching as any origin")
			}
			RuntimeCall::PolkadotXcm(pallet_xcm::Call::execute { .. }) => Some("raw XCM"),
			RuntimeCall::Balances(pallet_balances::Call::force_adjust_total_issuance {
				..
			}) => Some("adjusts issuance without an account"),
			// pallet-collator-selection takes any number from its update origin (it only logs a
			// warning above `MaxCandidates`) and then fails its own try_state: a governance
			// misstep upstream allows, found by this fuzzer (`tributary-runtime`
			// `desired_candidates_above_the_maximum_are_accepted_upstream`).
			RuntimeCall::CollatorSelection(
				pallet_collator_selection::Call::set_desired_candidates { max },
			)
				if *max
					> <<Runtime as pallet_collator_selection::Config>::MaxCandidates as Get<
						u32,
					>>::get() =>
			{
				Some("more desired candidates than MaxCandidates")
			}
			_ => None,
		};
		found = found.or(reason);
	});
	found
}

/// Whether the call, or a call it carries, mints or burns by design.
fn mints_or_burns(call: &RuntimeCall) -> bool {
	use pallet_balances::Call as Balances;
	let mut found = false;
	visit(call, &mut |call| {
		found |= matches!(
			call,
			RuntimeCall::Balances(Balances::burn { .. } | Balances::force_set_balance { .. })
		);
	});
	found
}

/// Calls `f` on the call and on every call it carries, however deep.
fn visit(call: &RuntimeCall, f: &mut impl FnMut(&RuntimeCall)) {
	use pallet_collective::Call as Collective;
	use pallet_scheduler::Call as Scheduler;
	use pallet_sudo::Call as Sudo;
	use pallet_utility::Call as Utility;
	f(call);
	match call {
		RuntimeCall::Utility(
			Utility::batch { calls }
			| Utility::batch_all { calls }
			| Utility::force_batch { calls },
		) => calls.iter().for_each(|inner| visit(inner, f)),
		RuntimeCall::Utility(Utility::if_else { main, fallback }) => {
			visit(main, f);
			visit(fallback, f);
		}
		RuntimeCall::Utility(
			Utility::as_derivative { call, .. }
			| Utility::dispatch_as { call, .. }
			| Utility::dispatch_as_fallible { call, .. }
			| Utility::with_weight { call, .. },
		)
		| RuntimeCall::Sudo(
			Sudo::sudo { call }
			| Sudo::sudo_as { call, .. }
			| Sudo::sudo_unchecked_weight { call, .. },
		)
		| RuntimeCall::Scheduler(
			Scheduler::schedule { call, .. }
			| Scheduler::schedule_named { call, .. }
			| Scheduler::schedule_after { call, .. }
			| Scheduler::schedule_named_after { call, .. },
		) => visit(call, f),
		RuntimeCall::Council(
			Collective::propose { proposal, .. } | Collective::execute { proposal, .. },
		) => visit(proposal, f),
		RuntimeCall::TechnicalCommittee(
			Collective::propose { proposal, .. } | Collective::execute { proposal, .. },
		) => visit(proposal, f),
		_ => {}
	}
}
