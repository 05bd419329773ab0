use crate::{mock::*, *};
use polkadot_sdk::frame_support::{assert_noop, assert_ok, traits::fungible::Inspect as _};

fn split(provider: u32, owner: u32, data: u32, treasury: u32) -> RoyaltySplit {
	RoyaltySplit {
		provider: Permill::from_parts(provider),
		owner: Permill::from_parts(owner),
		data: Permill::from_parts(data),
		treasury: Permill::from_parts(treasury),
	}
}

fn pay_in(fee: Balance) {
	assert_ok!(Balances::transfer_keep_alive(
		RuntimeOrigin::signed(PAYER),
		Royalties::pot_account(),
		fee
	));
}

fn span(contributor: AccountId, contribution_id: u32, score_ppm: u32) -> SpanCredit<AccountId> {
	SpanCredit { dataset_id: 0, contribution_id, contributor, score_ppm }
}

fn free(who: AccountId) -> Balance {
	Balances::balance(&who)
}

/// 1,000,003 planck split 50 / 20 / 25 / 5 %, two records matched (60 % and 30 % of the
/// scores), one lineage dataset of weight 400: every share rounds down and the treasury takes
/// the dust, to the planck.
#[test]
fn a_fee_is_split_to_the_planck() {
	ExtBuilder.build_and_execute(|| {
		let fee = 1_000_003;
		pay_in(fee);
		let treasury_before = free(TREASURY);
		let spans = [span(ALICE, 0, 600_000), span(BOB, 1, 300_000)];
		let (distribution, earned) = Royalties::distribute(
			fee,
			&split(500_000, 200_000, 250_000, 50_000),
			&PROVIDER,
			&OWNER,
			&spans,
			&[(0, 1_000_000)],
		)
		.unwrap();
		// provider 500,001.5 → 500,001; owner 200,000.6 → 200,000; data 250,000.75 →
		// 250,000; treasury 50,000.15 → 50,000; 2 planck of dust.
		// Span part: half the data share, 125,000: ALICE 75,000, BOB 37,500; the 10 % of
		// scores unassigned, 12,500, join the pool part: 137,500 over weight 400.
		assert_eq!(
			distribution,
			Distribution {
				provider: 500_001,
				owner: 200_000,
				treasury: 50_000,
				spans: 112_500,
				pools: 137_500,
				dust: 2,
			}
		);
		assert_eq!(earned, vec![75_000, 37_500]);
		assert_eq!(Credits::<Test>::get(PROVIDER), Some(500_001));
		assert_eq!(Credits::<Test>::get(OWNER), Some(200_000));
		assert_eq!(Credits::<Test>::get(ALICE), Some(75_000));
		assert_eq!(Credits::<Test>::get(BOB), Some(37_500));
		assert_eq!(free(TREASURY) - treasury_before, 50_002);
		assert_eq!(TotalDust::<Test>::get(), 2);
		let pool = Pools::<Test>::get(0).unwrap();
		assert_eq!(pool.reward_per_weight, 137_500 * SCALE / 400);
		assert_eq!(pool.outstanding, 137_500);
		// The pot holds exactly what is owed, beside its existential deposit.
		assert_eq!(free(Royalties::pot_account()), ED + 500_001 + 200_000 + 112_500 + 137_500);
		// Pool shares: 3/4 to ALICE, 1/4 to BOB.
		assert_eq!(Royalties::pending(&ALICE), (75_000, vec![(0, 103_125)]));
		assert_eq!(Royalties::pending(&BOB), (37_500, vec![(0, 34_375)]));
	});
}

/// Several splits and fees, with and without matched records and over two lineage datasets:
/// what is credited, pooled and paid to the treasury always adds up to the fee.
#[test]
fn every_split_adds_up_to_the_fee() {
	ExtBuilder.build_and_execute(|| {
		contribute(CHARLIE, 1, 7);
		let cases: [(Balance, RoyaltySplit, bool); 5] = [
			(999_999, split(700_000, 100_000, 150_000, 50_000), true),
			(1, split(250_000, 250_000, 250_000, 250_000), true),
			(123_456_789, split(0, 0, 1_000_000, 0), false),
			(10_000_019, split(333_333, 333_333, 333_334, 0), true),
			(77, split(100_000, 0, 900_000, 0), false),
		];
		for (fee, split, matched) in cases {
			pay_in(fee);
			let treasury_before = free(TREASURY);
			let spans = if matched { vec![span(ALICE, 0, 999_999)] } else { vec![] };
			let (d, earned) = Royalties::distribute(
				fee,
				&split,
				&PROVIDER,
				&OWNER,
				&spans,
				&[(0, 700_000), (1, 300_000)],
			)
			.unwrap();
			assert_eq!(d.provider + d.owner + d.treasury + d.spans + d.pools + d.dust, fee);
			assert_eq!(free(TREASURY) - treasury_before, d.treasury + d.dust);
			assert_eq!(earned.iter().sum::<Balance>(), d.spans);
			if !matched {
				assert_eq!(d.spans, 0, "nothing matched: all the data share to the pools");
			}
			Royalties::do_try_state().unwrap();
		}
	});
}

/// Contributors earn from a pool by the weight they held when each fee came in: CHARLIE,
/// joining between two settlements, earns only from the second; ALICE, whose weight grows
/// between them, earns the first at her old weight.
#[test]
fn pool_shares_follow_weights_as_they_change() {
	ExtBuilder.build_and_execute(|| {
		let pools = [(0, 1_000_000)];
		let all_data = split(0, 0, 1_000_000, 0);
		pay_in(400_000);
		Royalties::distribute(400_000, &all_data, &PROVIDER, &OWNER, &[], &pools).unwrap();
		// Weights 300 (ALICE) and 100 (BOB): 300,000 and 100,000.
		contribute(CHARLIE, 0, 400);
		contribute(ALICE, 0, 200);
		// Weights now 500, 100, 400 of 1,000.
		pay_in(1_000_000);
		Royalties::distribute(1_000_000, &all_data, &PROVIDER, &OWNER, &[], &pools).unwrap();
		assert_eq!(Royalties::pending(&ALICE).1, vec![(0, 300_000 + 500_000)]);
		assert_eq!(Royalties::pending(&BOB).1, vec![(0, 100_000 + 100_000)]);
		assert_eq!(Royalties::pending(&CHARLIE).1, vec![(0, 400_000)]);

		let before = free(CHARLIE);
		assert_ok!(Royalties::claim_from_datasets(
			RuntimeOrigin::signed(CHARLIE),
			vec![0].try_into().unwrap()
		));
		assert_eq!(free(CHARLIE) - before, 400_000);
		assert_eq!(Royalties::pending(&CHARLIE).1, vec![]);
		assert_noop!(
			Royalties::claim_from_datasets(
				RuntimeOrigin::signed(CHARLIE),
				vec![0].try_into().unwrap()
			),
			Error::<Test>::NothingToClaim
		);
		// Governance takes ALICE's first contribution down (weight 500 → 200); what she
		// earned with it stays hers.
		assert_ok!(pallet_datasets::Pallet::<Test>::remove_contribution(
			RuntimeOrigin::root(),
			0,
			0
		));
		pay_in(700_000);
		Royalties::distribute(700_000, &all_data, &PROVIDER, &OWNER, &[], &pools).unwrap();
		// Weights 200, 100, 400 of 700.
		assert_eq!(Royalties::pending(&ALICE).1, vec![(0, 800_000 + 200_000)]);
		assert_eq!(Royalties::pending(&CHARLIE).1, vec![(0, 400_000)]);
		let before = free(ALICE);
		assert_ok!(Royalties::claim_from_datasets(
			RuntimeOrigin::signed(ALICE),
			vec![0, 1].try_into().unwrap()
		));
		assert_eq!(free(ALICE) - before, 1_000_000);
	});
}

/// Claims pay exactly what was credited, once; a dataset named twice is refused.
#[test]
fn claims_pay_credits_once() {
	ExtBuilder.build_and_execute(|| {
		pay_in(1_000);
		Royalties::distribute(
			1_000,
			&split(600_000, 400_000, 0, 0),
			&PROVIDER,
			&OWNER,
			&[],
			&[(0, 1_000_000)],
		)
		.unwrap();
		let before = free(PROVIDER);
		assert_ok!(Royalties::claim(RuntimeOrigin::signed(PROVIDER)));
		assert_eq!(free(PROVIDER) - before, 600);
		assert_noop!(
			Royalties::claim(RuntimeOrigin::signed(PROVIDER)),
			Error::<Test>::NothingToClaim
		);
		assert_eq!(TotalCredits::<Test>::get(), 400);
		assert_noop!(
			Royalties::claim_from_datasets(
				RuntimeOrigin::signed(ALICE),
				vec![0, 0].try_into().unwrap()
			),
			Error::<Test>::DuplicateDataset
		);
		assert_noop!(Royalties::claim(RuntimeOrigin::signed(ALICE)), Error::<Test>::NothingToClaim);
	});
}

/// A new account is never paid less than the existential deposit: its claim fails and its
/// credit stays until it is worth claiming.
#[test]
fn a_claim_below_the_existential_deposit_waits() {
	ExtBuilder.build_and_execute(|| {
		let newcomer: AccountId = 77;
		pay_in(3);
		Royalties::distribute(3, &split(1_000_000, 0, 0, 0), &newcomer, &OWNER, &[], &[]).unwrap();
		assert!(Royalties::claim(RuntimeOrigin::signed(newcomer)).is_err());
		assert_eq!(Credits::<Test>::get(newcomer), Some(3));
		pay_in(10);
		Royalties::distribute(10, &split(1_000_000, 0, 0, 0), &newcomer, &OWNER, &[], &[]).unwrap();
		assert_ok!(Royalties::claim(RuntimeOrigin::signed(newcomer)));
		assert_eq!(free(newcomer), 13);
	});
}

/// A pool with no weight cannot pay anyone: its part goes to the treasury as dust.
#[test]
fn an_empty_pool_part_goes_to_the_treasury() {
	ExtBuilder.build_and_execute(|| {
		pay_in(1_000);
		let treasury_before = free(TREASURY);
		let (d, _) = Royalties::distribute(
			1_000,
			&split(0, 0, 1_000_000, 0),
			&PROVIDER,
			&OWNER,
			&[],
			&[(1, 1_000_000)],
		)
		.unwrap();
		assert_eq!((d.pools, d.dust), (0, 1_000));
		assert_eq!(free(TREASURY) - treasury_before, 1_000);
		assert_eq!(Pools::<Test>::get(1), None);
	});
}

/// Bad input is refused before anything changes.
#[test]
fn bad_distributions_change_nothing() {
	ExtBuilder.build_and_execute(|| {
		pay_in(1_000);
		let good = split(500_000, 200_000, 250_000, 50_000);
		let refusals: [(
			RoyaltySplit,
			Vec<SpanCredit<AccountId>>,
			Vec<(DatasetId, u32)>,
			Balance,
			Error<Test>,
		); 5] = [
			(
				split(500_000, 200_000, 250_000, 0),
				vec![],
				vec![(0, 1_000_000)],
				1_000,
				Error::InvalidSplit,
			),
			(
				good,
				vec![span(ALICE, 0, 600_000), span(BOB, 1, 400_001)],
				vec![(0, 1_000_000)],
				1_000,
				Error::ScoresOverflow,
			),
			(good, vec![], vec![(0, 999_999)], 1_000, Error::InvalidLineage),
			(good, vec![], vec![(0, 500_000), (0, 500_000)], 1_000, Error::DuplicateDataset),
			(good, vec![], vec![(0, 1_000_000)], 1_001, Error::FeeNotInPot),
		];
		for (split, spans, pools, fee, error) in refusals {
			assert_noop!(
				Royalties::distribute(fee, &split, &PROVIDER, &OWNER, &spans, &pools),
				error
			);
		}
	});
}

/// A pool rounds nothing away: fills that do not divide by its weight leave a residue the next
/// fill carries, so claims that empty the pool pay out exactly what was put in. One
/// contributor of weight 3 and three fills of one planck: the three planck are hers.
#[test]
fn a_pool_pays_out_everything_put_into_it() {
	ExtBuilder.build_and_execute(|| {
		contribute(CHARLIE, 1, 3);
		let pools = [(1, 1_000_000)];
		let all_data = split(0, 0, 1_000_000, 0);
		for _ in 0..3 {
			pay_in(1);
			let (d, _) =
				Royalties::distribute(1, &all_data, &PROVIDER, &OWNER, &[], &pools).unwrap();
			assert_eq!((d.pools, d.dust), (1, 0));
			Royalties::do_try_state().unwrap();
		}
		assert_eq!(Royalties::pending(&CHARLIE).1, vec![(1, 3)]);
		let before = free(CHARLIE);
		assert_ok!(Royalties::claim_from_datasets(
			RuntimeOrigin::signed(CHARLIE),
			vec![1].try_into().unwrap()
		));
		assert_eq!(free(CHARLIE) - before, 3);
		assert_eq!(Pools::<Test>::get(1).unwrap().outstanding, 0);
		assert_eq!(TotalDust::<Test>::get(), 0);
	});
}

/// Weights 3 and 4, fees that never divide by 7, a weight change and claims between fills:
/// after every step the books are exact (`try_state`), and once both have claimed, what they
/// were paid and what the pool still holds add up to every planck put in.
#[test]
fn pool_rounding_is_carried_not_lost() {
	ExtBuilder.build_and_execute(|| {
		contribute(CHARLIE, 1, 3);
		contribute(BOB, 1, 4);
		let pools = [(1, 1_000_000)];
		let all_data = split(0, 0, 1_000_000, 0);
		// Total balances: BOB's second record holds a deposit from his free balance.
		let total = |who| Balances::total_balance(&who);
		let (charlie_before, bob_before) = (total(CHARLIE), total(BOB));
		let mut put_in = 0;
		for (step, fee) in [1, 2, 5, 11, 13, 1, 8].into_iter().enumerate() {
			pay_in(fee);
			Royalties::distribute(fee, &all_data, &PROVIDER, &OWNER, &[], &pools).unwrap();
			put_in += fee;
			match step {
				2 => {
					contribute(BOB, 1, 2);
				}
				4 => {
					assert_ok!(Royalties::claim_from_datasets(
						RuntimeOrigin::signed(CHARLIE),
						vec![1].try_into().unwrap()
					));
				}
				_ => {}
			}
			Royalties::do_try_state().unwrap();
		}
		for who in [CHARLIE, BOB] {
			assert_ok!(Royalties::claim_from_datasets(
				RuntimeOrigin::signed(who),
				vec![1].try_into().unwrap()
			));
		}
		let paid = (total(CHARLIE) - charlie_before) + (total(BOB) - bob_before);
		let pool = Pools::<Test>::get(1).unwrap();
		assert_eq!(paid + pool.outstanding, put_in);
		// What is left is under a planck per contributor, and held for the next fill.
		assert!(pool.outstanding < 2, "left in the pool: {}", pool.outstanding);
		assert_eq!(TotalDust::<Test>::get(), 0);
	});
}

/// Claiming from a dataset one holds no weight in opens no position; a position left without
/// weight is removed once claimed.
#[test]
fn claims_leave_no_empty_positions() {
	ExtBuilder.build_and_execute(|| {
		assert_noop!(
			Royalties::claim_from_datasets(
				RuntimeOrigin::signed(CHARLIE),
				vec![0, 1, 7].try_into().unwrap()
			),
			Error::<Test>::NothingToClaim
		);
		assert_eq!(PoolPositions::<Test>::iter_prefix(CHARLIE).count(), 0);
		pay_in(400);
		Royalties::distribute(
			400,
			&split(0, 0, 1_000_000, 0),
			&PROVIDER,
			&OWNER,
			&[],
			&[(0, 1_000_000)],
		)
		.unwrap();
		// Governance removes BOB's only record: his earnings are settled first.
		assert_ok!(pallet_datasets::Pallet::<Test>::remove_contribution(
			RuntimeOrigin::root(),
			0,
			1
		));
		assert_eq!(Royalties::pending(&BOB).1, vec![(0, 100)]);
		assert!(PoolPositions::<Test>::contains_key(BOB, 0));
		let before = free(BOB);
		assert_ok!(Royalties::claim_from_datasets(
			RuntimeOrigin::signed(BOB),
			vec![0].try_into().unwrap()
		));
		assert_eq!(free(BOB) - before, 100);
		assert!(!PoolPositions::<Test>::contains_key(BOB, 0));
	});
}

/// An emptied treasury account cannot take less than the existential deposit: the treasury's
/// share waits in `TreasuryPending` and the settlement goes through; the next settlement pays
/// it with its own.
#[test]
fn the_treasury_share_waits_when_the_treasury_cannot_take_it() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(Balances::transfer_all(RuntimeOrigin::signed(TREASURY), PAYER, false));
		assert_eq!(free(TREASURY), 0);
		let to_treasury = split(900_000, 0, 0, 100_000);
		pay_in(30);
		// Treasury 3 planck, below the existential deposit of 5.
		let (d, _) = Royalties::distribute(30, &to_treasury, &PROVIDER, &OWNER, &[], &[]).unwrap();
		assert_eq!((d.provider, d.treasury), (27, 3));
		assert_eq!(TreasuryPending::<Test>::get(), 3);
		assert_eq!(free(TREASURY), 0);
		Royalties::do_try_state().unwrap();
		pay_in(40);
		Royalties::distribute(40, &to_treasury, &PROVIDER, &OWNER, &[], &[]).unwrap();
		assert_eq!(TreasuryPending::<Test>::get(), 0);
		assert_eq!(free(TREASURY), 3 + 4);
		assert_eq!(TotalSentToTreasury::<Test>::get(), 3 + 4);
		assert_eq!(TotalTreasuryShares::<Test>::get() + TotalDust::<Test>::get(), 3 + 4);
	});
}

/// The treasury's books: what the pot sent it and still owes it is its shares and the dust. A
/// transfer of the wrong amount, or dust counted but kept, breaks them.
#[test]
fn try_state_catches_dust_the_treasury_was_not_sent() {
	ExtBuilder.build_and_execute(|| {
		let treasury_before = free(TREASURY);
		pay_in(1_000_003);
		Royalties::distribute(
			1_000_003,
			&split(500_000, 200_000, 250_000, 50_000),
			&PROVIDER,
			&OWNER,
			&[],
			&[(0, 1_000_000)],
		)
		.unwrap();
		let dust = TotalDust::<Test>::get();
		assert!(dust > 0);
		assert_eq!(TotalSentToTreasury::<Test>::get(), free(TREASURY) - treasury_before);
		Royalties::do_try_state().unwrap();
		TotalDust::<Test>::put(dust + 1);
		assert!(Royalties::do_try_state().is_err());
		TotalDust::<Test>::put(dust);
		TotalSentToTreasury::<Test>::mutate(|sent| *sent -= 1);
		assert!(Royalties::do_try_state().is_err());
		TotalSentToTreasury::<Test>::mutate(|sent| *sent += 1);
	});
}

/// Two more splits worked by hand to the planck, with their dust.
#[test]
fn more_splits_to_the_planck() {
	// 999,999 to provider 70 %, owner 10 %, data 15 %, treasury 5 %: provider 699,999.3, owner
	// 99,999.9, treasury 49,999.95, data 149,999.85 — 3 planck of dust. Span part 74,999 (half,
	// rounded down): ALICE's record scored 999,999 ppm gets 74,998.9 → 74,998, 1 more of dust,
	// the unscored ppm nothing. Pool part 75,000: 52,500 to dataset 0 (ALICE 300 : BOB 100) and
	// 22,500 to dataset 1 (CHARLIE alone, weight 7: 22,499.99… of it now, the rest kept as the
	// pool's residue).
	ExtBuilder.build_and_execute(|| {
		contribute(CHARLIE, 1, 7);
		pay_in(999_999);
		let (d, earned) = Royalties::distribute(
			999_999,
			&split(700_000, 100_000, 150_000, 50_000),
			&PROVIDER,
			&OWNER,
			&[span(ALICE, 0, 999_999)],
			&[(0, 700_000), (1, 300_000)],
		)
		.unwrap();
		assert_eq!(
			d,
			Distribution {
				provider: 699_999,
				owner: 99_999,
				treasury: 49_999,
				spans: 74_998,
				pools: 75_000,
				dust: 4
			}
		);
		assert_eq!(earned, vec![74_998]);
		assert_eq!(Royalties::pending(&ALICE), (74_998, vec![(0, 39_375)]));
		assert_eq!(Royalties::pending(&BOB), (0, vec![(0, 13_125)]));
		assert_eq!(Royalties::pending(&CHARLIE), (0, vec![(1, 22_499)]));
		assert_eq!(Pools::<Test>::get(1).unwrap().residue, 2);
	});
	// 10,000,019 to provider and owner 333,333 ppm each, data 333,334, treasury none: provider
	// and owner 3,333,336.33…, data 3,333,346.33… — 1 of dust. Span part 1,666,673: ALICE
	// (500,000 ppm) 833,336.5 → 833,336, BOB (250,000 ppm) 416,668.25 → 416,668, the unscored
	// quarter 416,668 joins the pool part, 1 more of dust. Pool part 2,083,341 over weight 400:
	// ALICE 1,562,505.75, BOB 520,835.25.
	ExtBuilder.build_and_execute(|| {
		pay_in(10_000_019);
		let (d, earned) = Royalties::distribute(
			10_000_019,
			&split(333_333, 333_333, 333_334, 0),
			&PROVIDER,
			&OWNER,
			&[span(ALICE, 0, 500_000), span(BOB, 1, 250_000)],
			&[(0, 1_000_000)],
		)
		.unwrap();
		assert_eq!(
			d,
			Distribution {
				provider: 3_333_336,
				owner: 3_333_336,
				treasury: 0,
				spans: 1_250_004,
				pools: 2_083_341,
				dust: 2
			}
		);
		assert_eq!(earned, vec![833_336, 416_668]);
		assert_eq!(Royalties::pending(&ALICE), (833_336, vec![(0, 1_562_505)]));
		assert_eq!(Royalties::pending(&BOB), (416_668, vec![(0, 520_835)]));
		assert_eq!(TotalDust::<Test>::get(), 2);
	});
}
