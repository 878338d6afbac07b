//! The store contract: written once, run against every implementation (SQLite, and
//! PostgreSQL on a throwaway cluster). Data comes from a real world run, so the rows are the
//! ones the server writes.

mod common;

use std::sync::Arc;

use madbus::network::{BusId, Network};
use madbus::sim::{EntityType, Records, SimConfig, World};
use madbus::store::{
    Batch, Checkpoint, PostgresStore, RangeQuery, Record, Series, SqliteStore, Store,
};
use madbus::time::Millis;

/// 30 simulated minutes of the default network.
fn records() -> Records {
    let start = Millis::parse("2026-11-23T07:00:00Z").unwrap();
    let mut world = World::new(
        Arc::new(Network::default_network()),
        SimConfig::default(),
        start,
    );
    let mut all = Records::default();
    for _ in 0..1_800 {
        world.step_into(&mut all);
    }
    all
}

async fn filled(store: &dyn Store) -> Records {
    let rec = records();
    let stats = store
        .write(Arc::new(Batch {
            records: rec.clone(),
            checkpoint: None,
        }))
        .await
        .unwrap();
    assert_eq!(stats.rows_written, rec.len() as u64);
    rec
}

fn positions_of<'a>(rec: &'a Records, bus: &str) -> Vec<&'a madbus::sim::BusPosition> {
    rec.positions
        .iter()
        .filter(|p| p.bus_id.as_str() == bus)
        .collect()
}

pub mod contract {
    use super::*;

    pub async fn latest(store: &dyn Store) {
        let rec = filled(store).await;
        let last = *positions_of(&rec, "B002").last().unwrap();
        assert_eq!(
            store.latest(Series::BusPositions, "B002").await.unwrap(),
            Some(Record::Position(last.clone()))
        );
        let people = rec
            .people
            .iter()
            .rfind(|p| p.stop_id.as_str() == "S003")
            .unwrap();
        assert_eq!(
            store.latest(Series::PeopleCount, "S003").await.unwrap(),
            Some(Record::People(people.clone()))
        );
        let sensor = rec
            .sensors
            .iter()
            .rfind(|s| &*s.entity_id == "B101" && s.entity_type == EntityType::Bus)
            .unwrap();
        assert_eq!(
            store
                .latest(Series::Sensors(EntityType::Bus), "B101")
                .await
                .unwrap(),
            Some(Record::Sensor(sensor.clone()))
        );
        // A bus id asked for as a stop's sensors has no rows.
        assert_eq!(
            store
                .latest(Series::Sensors(EntityType::Stop), "B101")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.latest(Series::BusPositions, "B999").await.unwrap(),
            None
        );
    }

    pub async fn as_of(store: &dyn Store) {
        let rec = filled(store).await;
        let list = positions_of(&rec, "B001");
        let (a, b) = (list[10], list[11]);
        let exact = store
            .as_of(Series::BusPositions, "B001", a.time)
            .await
            .unwrap();
        assert_eq!(
            exact,
            Some(Record::Position(a.clone())),
            "exactly at a record"
        );
        let between = Millis(a.time.0 + (b.time.0 - a.time.0) / 2);
        let got = store
            .as_of(Series::BusPositions, "B001", between)
            .await
            .unwrap();
        assert_eq!(
            got,
            Some(Record::Position(a.clone())),
            "between two records"
        );
        let before = Millis(list[0].time.0 - 1);
        assert_eq!(
            store
                .as_of(Series::BusPositions, "B001", before)
                .await
                .unwrap(),
            None
        );
        // Arrivals are events at any millisecond.
        let arrival = rec
            .arrivals
            .iter()
            .find(|a| a.bus_id.as_str() == "B003")
            .unwrap();
        assert_eq!(
            store
                .as_of(Series::BusArrivals, "B003", arrival.time)
                .await
                .unwrap(),
            Some(Record::Arrival(arrival.clone()))
        );
    }

    pub async fn range_pages(store: &dyn Store) {
        let rec = filled(store).await;
        let list = positions_of(&rec, "B101");
        let (from, to) = (list[3].time, list[200].time);
        let expected: Vec<Record> = list[3..=200]
            .iter()
            .map(|p| Record::Position((*p).clone()))
            .collect();
        let mut got = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = store
                .range(RangeQuery {
                    series: Series::BusPositions,
                    id: "B101".into(),
                    from,
                    to,
                    limit: 7,
                    after,
                })
                .await
                .unwrap();
            assert!(page.rows.len() <= 7);
            got.extend(page.rows);
            pages += 1;
            match page.next_cursor {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(
            got, expected,
            "pages cover every row exactly once, in order"
        );
        assert_eq!(pages, expected.len().div_ceil(7));
        // Sensors of stops, over everything.
        let all = store
            .range(RangeQuery {
                series: Series::Sensors(EntityType::Stop),
                id: "S001".into(),
                from: Millis::MIN,
                to: Millis::MAX,
                limit: 1_000,
                after: None,
            })
            .await
            .unwrap();
        assert_eq!(all.rows.len(), 30);
        assert_eq!(all.next_cursor, None);
    }

    pub async fn line_snapshot(store: &dyn Store) {
        let rec = filled(store).await;
        let net = Network::default_network();
        let line = net.line("L2").unwrap();
        let ids: Vec<BusId> = line
            .buses
            .iter()
            .map(|&b| net.buses[b].id.clone())
            .collect();
        let t = Millis(positions_of(&rec, "B101")[50].time.0 + 2_000);
        let snap = store.line_snapshot(&ids, t).await.unwrap();
        assert_eq!(snap.len(), ids.len());
        assert_eq!(ids.len(), 7);
        for (p, id) in snap.iter().zip(&ids) {
            assert_eq!(&p.bus_id, id);
            let expected = store
                .as_of(Series::BusPositions, id.as_str(), t)
                .await
                .unwrap();
            assert_eq!(Some(Record::Position(p.clone())), expected);
        }
    }

    pub async fn rewriting_adds_nothing(store: &dyn Store) {
        let rec = filled(store).await;
        let again = store
            .write(Arc::new(Batch {
                records: rec.clone(),
                checkpoint: None,
            }))
            .await
            .unwrap();
        assert_eq!(again.rows_written, 0);
        let page = store
            .range(RangeQuery {
                series: Series::PeopleCount,
                id: "S101".into(),
                from: Millis::MIN,
                to: Millis::MAX,
                limit: 10_000,
                after: None,
            })
            .await
            .unwrap();
        assert_eq!(page.rows.len(), 30);
    }

    pub async fn pruning(store: &dyn Store) {
        let rec = filled(store).await;
        let list = positions_of(&rec, "B001");
        let cut = list[100].time;
        let older = rec.len()
            - rec.positions.iter().filter(|p| p.time >= cut).count()
            - rec.people.iter().filter(|p| p.time >= cut).count()
            - rec.sensors.iter().filter(|p| p.time >= cut).count()
            - rec.arrivals.iter().filter(|p| p.time >= cut).count();
        assert_eq!(store.prune(cut).await.unwrap(), older as u64);
        assert_eq!(
            store
                .as_of(Series::BusPositions, "B001", Millis(cut.0 - 1))
                .await
                .unwrap(),
            None
        );
        assert!(
            store
                .as_of(Series::BusPositions, "B001", cut)
                .await
                .unwrap()
                .is_some()
        );
        let (lo, hi) = store.time_span().await.unwrap().unwrap();
        assert_eq!((lo, hi), (cut, list.last().unwrap().time));
    }

    pub async fn checkpoint(store: &dyn Store) {
        assert_eq!(store.checkpoint().await.unwrap(), None);
        for t in [1_000, 2_000] {
            let cp = Checkpoint {
                time: Millis(t),
                state_json: format!("{{\"t\":{t}}}"),
            };
            store
                .write(Arc::new(Batch {
                    records: Records::default(),
                    checkpoint: Some(cp.clone()),
                }))
                .await
                .unwrap();
            assert_eq!(store.checkpoint().await.unwrap(), Some(cp));
        }
    }

    pub async fn api_keys(store: &dyn Store) {
        use madbus::store::ApiKeyRecord;
        let key = |id: &str, group: &str, t: i64| ApiKeyRecord {
            id: id.into(),
            group: group.into(),
            hash: format!("{:064x}", t),
            created_at: Millis(t),
            expires_at: None,
            revoked_at: None,
        };
        for (id, group, t) in [("k1", "g1", 1), ("k2", "g1", 2), ("k3", "g2", 3)] {
            store.insert_key(key(id, group, t)).await.unwrap();
        }
        assert!(
            store.insert_key(key("k1", "g1", 9)).await.is_err(),
            "ids are unique"
        );
        let ids: Vec<String> = store
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(ids, ["k1", "k2", "k3"]);
        assert!(store.revoke_key("k2", Millis(10)).await.unwrap());
        assert!(
            !store.revoke_key("k2", Millis(11)).await.unwrap(),
            "already revoked"
        );
        assert!(!store.revoke_key("nope", Millis(11)).await.unwrap());
        // Rotation: the other active keys of g1 expire at the grace end; k2 is revoked.
        assert_eq!(
            store
                .expire_group_keys("g1", "k9", Millis(500))
                .await
                .unwrap(),
            1
        );
        let list = store.list_keys().await.unwrap();
        assert_eq!(list[0].expires_at, Some(Millis(500)));
        assert_eq!(list[1].revoked_at, Some(Millis(10)));
        assert_eq!(list[2].expires_at, None, "other groups are untouched");
        // An earlier expiry is kept.
        store
            .expire_group_keys("g1", "k9", Millis(900))
            .await
            .unwrap();
        assert_eq!(
            store.list_keys().await.unwrap()[0].expires_at,
            Some(Millis(500))
        );
    }

    pub async fn hostile_ids_are_only_values(store: &dyn Store) {
        filled(store).await;
        for id in [
            "S001' OR '1'='1",
            "B001; DROP TABLE bus_positions; --",
            "%",
            "*",
        ] {
            assert_eq!(
                store.latest(Series::BusPositions, id).await.unwrap(),
                None,
                "{id}"
            );
            assert_eq!(
                store.latest(Series::PeopleCount, id).await.unwrap(),
                None,
                "{id}"
            );
        }
        assert!(
            store
                .latest(Series::BusPositions, "B001")
                .await
                .unwrap()
                .is_some()
        );
        store.ping().await.unwrap();
    }
}

/// Runs the named contract tests against one implementation, each on a fresh store made
/// by `$make` (which returns a guard to keep alive and the store).
macro_rules! store_contract {
    ($module:ident, $make:expr, [$($test:ident),+ $(,)?]) => {
        // `cfg(all())` is always true: no attribute.
        store_contract!($module, $make, [$($test),+], #[cfg(all())]);
    };
    ($module:ident, $make:expr, [$($test:ident),+ $(,)?], #[$meta:meta]) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test]
                #[$meta]
                async fn $test() {
                    let (_guard, store) = $make;
                    contract::$test(&store).await;
                }
            )+
        }
    };
}

/// Every test of the contract; each implementation runs all of them.
macro_rules! full_contract {
    ($module:ident, $make:expr $(, #[$meta:meta])?) => {
        store_contract!(
            $module,
            $make,
            [
                latest,
                as_of,
                range_pages,
                line_snapshot,
                rewriting_adds_nothing,
                pruning,
                checkpoint,
                api_keys,
                hostile_ids_are_only_values,
            ]
            $(, #[$meta])?
        );
    };
}

fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (dir, store)
}

full_contract!(sqlite_store, sqlite());

async fn postgres() -> ((), PostgresStore) {
    let url = common::PgCluster::get().database().await;
    ((), PostgresStore::connect(&url).await.unwrap())
}

full_contract!(postgres_store, postgres().await, #[ignore = "needs PostgreSQL"]);

/// Two processes starting at once on a new database: the migration lock lets one migrate
/// and the other find the schema ready; a read-only connection needs it current.
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn postgres_migrates_once_under_a_lock() {
    let url = common::PgCluster::get().database().await;
    assert!(
        PostgresStore::connect_read_only(&url)
            .await
            .err()
            .unwrap()
            .to_string()
            .contains("schema version 0")
    );
    let (a, b) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    filled(&a).await;
    let read_only = PostgresStore::connect_read_only(&url).await.unwrap();
    assert!(
        read_only
            .latest(Series::BusPositions, "B001")
            .await
            .unwrap()
            .is_some()
    );
    b.ping().await.unwrap();
    let e = PostgresStore::connect("postgres://nobody:pw@127.0.0.1:1/none")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(!e.contains("pw"), "{e}");
}

#[tokio::test]
async fn sqlite_reopens_with_its_data_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let rec = {
        let store = SqliteStore::open(dir.path()).unwrap();
        filled(&store).await
    };
    let store = SqliteStore::open(dir.path()).unwrap();
    let last = rec.positions.last().unwrap();
    assert_eq!(
        store
            .latest(Series::BusPositions, last.bus_id.as_str())
            .await
            .unwrap(),
        Some(Record::Position(last.clone()))
    );
    let _ = Arc::new(store);
}
