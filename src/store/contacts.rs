//! Known callers: the configured `[[contacts]]` are loaded at start (keyed by
//! the business's own number) and looked up by the caller's number when a
//! call comes in.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::error::StoreError;
use super::schema::{businesses, contacts};
use super::Store;
use crate::config::Business;

/// A caller the business knows: what the receptionist may use to greet and
/// serve them. `phone` is E.164.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownCaller {
    pub phone: String,
    pub name: String,
    pub vip: bool,
    /// For the assistant, never read out to the caller.
    pub notes: String,
}

impl Store {
    /// Creates or updates the business's row (by its number) and upserts
    /// `callers` under it, in one transaction: a failure leaves the
    /// directory as it was. Contacts already stored but absent from
    /// `callers` are kept, so rows loaded by other means survive a restart.
    /// Returns how many contacts were written.
    pub async fn sync_contacts(
        &self,
        business: &Business,
        callers: &[KnownCaller],
    ) -> Result<usize, StoreError> {
        let disclosure = Some(business.recording_disclosure.as_str()).filter(|d| !d.is_empty());
        db_write!(self, |conn| {
            let business_id = diesel::insert_into(businesses::table)
                .values((
                    businesses::number.eq(&business.phone),
                    businesses::name.eq(&business.name),
                    businesses::timezone.eq(&business.timezone),
                    businesses::greeting.eq(&business.greeting),
                    businesses::persona.eq(&business.persona),
                    businesses::recording_disclosure.eq(disclosure),
                ))
                .on_conflict(businesses::number)
                .do_update()
                .set((
                    businesses::name.eq(&business.name),
                    businesses::timezone.eq(&business.timezone),
                    businesses::greeting.eq(&business.greeting),
                    businesses::persona.eq(&business.persona),
                    businesses::recording_disclosure.eq(disclosure),
                ))
                .returning(businesses::id)
                .get_result::<i64>(conn)
                .await?;
            for c in callers {
                diesel::insert_into(contacts::table)
                    .values((
                        contacts::business_id.eq(business_id),
                        contacts::phone.eq(&c.phone),
                        contacts::name.eq(&c.name),
                        contacts::vip.eq(c.vip),
                        contacts::notes.eq(&c.notes),
                    ))
                    .on_conflict((contacts::business_id, contacts::phone))
                    .do_update()
                    .set((
                        contacts::name.eq(&c.name),
                        contacts::vip.eq(c.vip),
                        contacts::notes.eq(&c.notes),
                    ))
                    .execute(conn)
                    .await?;
            }
            Ok(callers.len())
        })
    }

    /// The contact with this exact (E.164) number at the business whose own
    /// number is `business_number`.
    pub async fn find_contact(
        &self,
        business_number: &str,
        phone: &str,
    ) -> Result<Option<KnownCaller>, StoreError> {
        db_run!(self, |conn| {
            let row = contacts::table
                .inner_join(businesses::table)
                .filter(businesses::number.eq(business_number))
                .filter(contacts::phone.eq(phone))
                .select((
                    contacts::phone,
                    contacts::name,
                    contacts::vip,
                    contacts::notes,
                ))
                .first::<(String, String, bool, String)>(conn)
                .await
                .optional()?;
            Ok(row.map(|(phone, name, vip, notes)| KnownCaller {
                phone,
                name,
                vip,
                notes,
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BusinessConfig;

    fn dana(vip: bool, notes: &str) -> KnownCaller {
        KnownCaller {
            phone: "+15005550006".into(),
            name: "Dana Whitfield".into(),
            vip,
            notes: notes.into(),
        }
    }

    #[tokio::test]
    async fn sync_then_find_and_update_in_place() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let b = BusinessConfig::sample().business;
        assert_eq!(
            store
                .sync_contacts(&b, &[dana(true, "afternoons")])
                .await
                .unwrap(),
            1
        );
        let found = store.find_contact(&b.phone, "+15005550006").await.unwrap();
        assert_eq!(found, Some(dana(true, "afternoons")));
        assert_eq!(
            store.find_contact(&b.phone, "+15005550007").await.unwrap(),
            None
        );
        assert_eq!(
            store
                .find_contact("+15559999999", "+15005550006")
                .await
                .unwrap(),
            None
        );

        // A restart with changed config updates the row rather than failing.
        store.sync_contacts(&b, &[dana(false, "")]).await.unwrap();
        let found = store.find_contact(&b.phone, "+15005550006").await.unwrap();
        assert_eq!(found, Some(dana(false, "")));
    }
}
