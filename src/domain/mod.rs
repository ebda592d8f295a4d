//! The domain: the vocabulary, money and the rules of `rules.md` as pure code. Nothing here
//! touches a database connection, GraphQL, HTTP or the system clock: every input is an
//! argument (`now` included), so each rule is unit-tested on its own. The GraphQL layer maps
//! the vocabulary to its enums (`crate::graphql::enums`); the entity layer stores it.
pub mod actor;
pub mod card;
pub mod contact;
pub mod create;
pub mod money;
pub mod payout;
pub mod shop;
pub mod vocab;
