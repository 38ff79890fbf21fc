//! What the model is told: the system instruction for this merchant's shopping assistant, with
//! the conversation's checkout as the turn finds it.

use schemas::merchant::Merchant;
use schemas::ucp::Checkout;

use super::tools::describe_checkout;

/// The system instruction for one turn.
pub fn system(merchant: &Merchant, checkout: Option<&Checkout>) -> String {
    let checkout = match checkout {
        Some(checkout) => format!("The conversation's open checkout (amounts in minor units, e.g. cents): {}", describe_checkout(checkout)),
        None => "The conversation has no open checkout.".to_owned(),
    };
    format!(
        "You are the shopping assistant of {name}: {description}\n\
         Help the user find products and buy them, using the tools: search the catalog before \
         naming products, add what the user wants to the checkout, collect the buyer's name, email \
         and shipping address with update_customer_details, and call complete_checkout only when the \
         user asks to pay and the checkout is ready_for_complete. Payment details arrive with the \
         user's message, never in chat: never ask for a card number. Prices are in {currency}; \
         tools report amounts in minor units. Answer briefly.\n\
         {checkout}",
        name = merchant.name,
        description = merchant.description,
        currency = merchant.currency,
    )
}
