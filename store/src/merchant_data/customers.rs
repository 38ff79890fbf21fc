//! The buyers of a data set: `customers.csv` and their saved addresses, `addresses.csv`.

use std::collections::HashSet;

use serde::Deserialize;

use super::csv_file::{rows, Unique};
use crate::customers::Address;
use crate::Result;

/// A customer of the data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Customer {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// A saved address of the data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CustomerAddress {
    pub id: String,
    pub customer_id: String,
    pub address: Address,
}

#[derive(Deserialize)]
struct CustomerRow {
    id: String,
    name: String,
    email: String,
}

/// `customers.csv`: `id`, `name` (may be empty), `email` (unique, compared case-insensitively).
pub(super) fn customers(bytes: &[u8]) -> Result<Vec<Customer>> {
    let mut ids = Unique::new("id");
    let mut emails = Unique::new("email");
    let mut customers = Vec::new();
    for (line, row) in rows::<CustomerRow>("customers.csv", bytes, &["id", "name", "email"])? {
        let id = line.required("id", row.id)?;
        ids.check(line, &id)?;
        let email = line.required("email", row.email)?;
        if !email.contains('@') {
            return Err(line.error(format_args!("email {email:?} is not an email address")));
        }
        emails.check(line, &email.to_lowercase())?;
        customers.push(Customer {
            id,
            name: row.name,
            email,
        });
    }
    Ok(customers)
}

#[derive(Deserialize)]
struct AddressRow {
    id: String,
    customer_id: String,
    street_address: String,
    #[serde(default)]
    extended_address: String,
    city: String,
    state: String,
    postal_code: String,
    country: String,
}

/// `addresses.csv`: `id`, `customer_id` (a customer of the data set), `street_address`, `city`,
/// `state` and `postal_code` (both may be empty), `country`; optionally `extended_address`.
pub(super) fn addresses(bytes: &[u8], customers: &HashSet<&str>) -> Result<Vec<CustomerAddress>> {
    let columns = [
        "id",
        "customer_id",
        "street_address",
        "city",
        "state",
        "postal_code",
        "country",
    ];
    let mut ids = Unique::new("id");
    let mut addresses = Vec::new();
    for (line, row) in rows::<AddressRow>("addresses.csv", bytes, &columns)? {
        let id = line.required("id", row.id)?;
        ids.check(line, &id)?;
        let customer_id = line.required("customer_id", row.customer_id)?;
        if !customers.contains(customer_id.as_str()) {
            return Err(line.error(format_args!(
                "customer_id {customer_id:?} is not a customer of the data set"
            )));
        }
        addresses.push(CustomerAddress {
            id,
            customer_id,
            address: Address {
                street_address: line.required("street_address", row.street_address)?,
                extended_address: Some(row.extended_address).filter(|e| !e.is_empty()),
                city: line.required("city", row.city)?,
                state: row.state,
                postal_code: row.postal_code,
                country: line.required("country", row.country)?,
            },
        });
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_are_unique_by_id_and_email() {
        let found = customers(b"id,name,email\nc1,Ann,ann@example.com\nc2,,bob@example.com\n").unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].name, "");
        let repeated = customers(b"id,name,email\nc1,Ann,ann@example.com\nc2,Bob,ANN@example.com\n");
        assert!(repeated
            .unwrap_err()
            .to_string()
            .ends_with("customers.csv line 3: email \"ann@example.com\" repeats line 2"));
        let no_at = customers(b"id,name,email\nc1,Ann,ann\n").unwrap_err().to_string();
        assert!(
            no_at.ends_with("customers.csv line 2: email \"ann\" is not an email address"),
            "{no_at}"
        );
    }

    #[test]
    fn addresses_name_customers_of_the_data_set() {
        let header = "id,customer_id,street_address,city,state,postal_code,country\n";
        let known = HashSet::from(["c1"]);
        let found = addresses(format!("{header}a1,c1,1 Main St,Springfield,,,US\n").as_bytes(), &known).unwrap();
        assert_eq!(found[0].address.city, "Springfield");
        assert_eq!(found[0].address.extended_address, None);
        let unknown = addresses(
            format!("{header}a1,c9,1 Main St,Springfield,IL,1,US\n").as_bytes(),
            &known,
        );
        assert!(unknown
            .unwrap_err()
            .to_string()
            .ends_with("addresses.csv line 2: customer_id \"c9\" is not a customer of the data set"));
        let no_city = addresses(format!("{header}a1,c1,1 Main St,,IL,1,US\n").as_bytes(), &known);
        assert!(no_city
            .unwrap_err()
            .to_string()
            .ends_with("addresses.csv line 2: city is empty"));
    }
}
