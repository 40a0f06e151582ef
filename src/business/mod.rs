//! What the business's configuration means, for everyone who needs it:
//! opening hours ([`hours`]) and phone numbers as the business reads them
//! ([`phone`]). Low in the graph on purpose: the call, the instructions, the
//! calendar, the tools and the webhooks all use it, and it uses only
//! `config`.

pub mod hours;
pub mod phone;

use frontdesk_core::Transfer;

use crate::config::Department;

/// A transfer to a configured department: only numbers from the directory
/// ever reach the call's machine.
pub fn transfer_to(d: &Department) -> Transfer {
    Transfer {
        department: d.name.clone(),
        number: d.phone.clone(),
        on_no_answer: d.on_no_answer,
    }
}
