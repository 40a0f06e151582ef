//! Which calls this instance is holding, by CallSid.

use std::collections::HashMap;

use actix::Addr;
use parking_lot::Mutex;

use super::actor::CallActor;

#[derive(Default)]
pub struct CallRegistry {
    calls: Mutex<HashMap<String, Addr<CallActor>>>,
}

impl CallRegistry {
    pub fn get(&self, call_sid: &str) -> Option<Addr<CallActor>> {
        let calls = self.calls.lock();
        calls.get(call_sid).filter(|a| a.connected()).cloned()
    }

    pub fn insert(&self, call_sid: &str, addr: Addr<CallActor>) {
        self.calls.lock().insert(call_sid.to_string(), addr);
    }

    /// Removes the entry only if it is still this actor's.
    pub fn remove(&self, call_sid: &str, addr: &Addr<CallActor>) {
        let mut calls = self.calls.lock();
        if calls.get(call_sid).is_some_and(|a| a == addr) {
            calls.remove(call_sid);
        }
    }

    /// Every call held now (a snapshot: the lock is not held after).
    pub fn all(&self) -> Vec<Addr<CallActor>> {
        self.calls.lock().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.calls.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
