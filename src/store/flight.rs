//! Reading a call's flight record back (`crate::flight`; written by the
//! recorder through `write_batch`).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::error::StoreError;
use super::schema::call_inputs;
use super::Store;

impl Store {
    /// The stored chunks of a call's flight record, in order, as
    /// `(chunk, text)`; empty when the call has none.
    pub async fn flight_chunks(&self, call_sid: &str) -> Result<Vec<(i64, String)>, StoreError> {
        let call_sid = call_sid.to_string();
        db_read!(self, |conn| {
            Ok(call_inputs::table
                .filter(call_inputs::call_sid.eq(&call_sid))
                .order(call_inputs::chunk.asc())
                .select((call_inputs::chunk, call_inputs::body))
                .load::<(i64, String)>(conn)
                .await?)
        })
    }
}
