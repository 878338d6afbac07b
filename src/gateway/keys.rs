//! API keys. A key is `mbk_<id>_<secret>`: the id is public (for listing and revoking), the
//! whole key is stored only as its SHA-256 hash. The server keeps the records in memory,
//! reloaded from the store every second, so keys made with `madbus keys` from another
//! process take effect at once without a store read per request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{ApiKeyRecord, Store, StoreError};
use crate::time::{Duration, Millis};

/// A key in clear, shown once when made. Deliberately not `Debug` or `Display`.
pub struct NewKey {
    pub key: String,
    pub record: ApiKeyRecord,
}

fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Group names follow the id grammar: letters, digits, `_`, `-`, at most 64.
pub fn check_group(group: &str) -> Result<(), String> {
    crate::network::id::check_id(group).map_err(|e| format!("group name {group:?} {e}"))
}

/// Makes a new random key for `group`, valid until `expires` if given.
pub fn generate(group: &str, now: Millis, expires: Option<Duration>) -> NewKey {
    let mut rng = rand::rng();
    let id = crate::hex::encode(&rng.random::<[u8; 4]>());
    let key = format!("mbk_{id}_{}", crate::hex::encode(&rng.random::<[u8; 32]>()));
    let record = ApiKeyRecord {
        id,
        group: group.to_string(),
        hash: crate::hex::encode(&hash(&key)),
        created_at: now,
        expires_at: expires.map(|d| now.saturating_add(d)),
        revoked_at: None,
    };
    NewKey { key, record }
}

/// Why a presented key is refused. Recorded in the access log, never shown in detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Revoked,
    Expired,
    WrongGroup,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown key",
            Refusal::Revoked => "revoked key",
            Refusal::Expired => "expired key",
            Refusal::WrongGroup => "key of another group",
        }
    }
}

/// Who a request is, once its key is accepted. Cheap to clone: every request carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's id, or `shared` for the shared key.
    pub key_id: Arc<str>,
    pub group: Arc<str>,
}

/// A stored key, with the principal it makes.
struct KnownKey {
    record: ApiKeyRecord,
    principal: Principal,
}

/// The keys the server accepts.
pub struct KeyRing {
    store: Arc<dyn Store>,
    by_hash: RwLock<HashMap<[u8; 32], KnownKey>>,
    /// The one key every group may use (the original system's model), hashed.
    shared: Option<[u8; 32]>,
}

impl KeyRing {
    pub fn new(store: Arc<dyn Store>, shared_key: Option<&str>) -> Self {
        Self {
            store,
            by_hash: RwLock::default(),
            shared: shared_key.map(hash),
        }
    }

    /// Reloads the records from the store.
    pub async fn refresh(&self) -> Result<usize, StoreError> {
        let records = self.store.list_keys().await?;
        let mut map = HashMap::with_capacity(records.len());
        for r in records {
            if let Some(h) = decode_hash(&r.hash) {
                let principal = Principal {
                    key_id: r.id.as_str().into(),
                    group: r.group.as_str().into(),
                };
                map.insert(
                    h,
                    KnownKey {
                        record: r,
                        principal,
                    },
                );
            }
        }
        let n = map.len();
        *self.by_hash.write().unwrap_or_else(|p| p.into_inner()) = map;
        Ok(n)
    }

    pub fn has_shared_key(&self) -> bool {
        self.shared.is_some()
    }

    /// Checks `key` for `group` at `now`.
    pub fn verify(&self, key: &str, group: &str, now: Millis) -> Result<Principal, Refusal> {
        let presented = hash(key);
        if let Some(shared) = &self.shared
            && bool::from(shared.ct_eq(&presented))
        {
            return Ok(Principal {
                key_id: "shared".into(),
                group: group.into(),
            });
        }
        let keys = self.by_hash.read().unwrap_or_else(|p| p.into_inner());
        let (stored, known) = keys.get_key_value(&presented).ok_or(Refusal::Unknown)?;
        // The map found it by hash; compare in constant time all the same.
        if !bool::from(stored.ct_eq(&presented)) {
            return Err(Refusal::Unknown);
        }
        let record = &known.record;
        if record.revoked_at.is_some_and(|t| t <= now) {
            return Err(Refusal::Revoked);
        }
        if record.expires_at.is_some_and(|t| t <= now) {
            return Err(Refusal::Expired);
        }
        if record.group != group {
            return Err(Refusal::WrongGroup);
        }
        Ok(known.principal.clone())
    }
}

fn decode_hash(s: &str) -> Option<[u8; 32]> {
    crate::hex::decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_an_id_and_a_hash_only() {
        let k = generate("g1", Millis(0), None);
        assert!(k.key.starts_with(&format!("mbk_{}_", k.record.id)));
        assert_eq!(k.key.len(), 4 + 8 + 1 + 64);
        assert!(!k.record.hash.contains(&k.key[13..]));
        assert_eq!(decode_hash(&k.record.hash), Some(hash(&k.key)));
        assert_ne!(generate("g1", Millis(0), None).key, k.key);
    }
}
