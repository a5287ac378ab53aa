//! The standard objects a fresh emulated org has. Between them they cover every field type a
//! connector meets: compounds (address, location), picklists, currency, percent, date, datetime,
//! time, boolean, int, long, textarea, encrypted text, references and unique external ids.

use crate::data::schema::{FieldDef, ObjectBuilder, ObjectDef};
use sfarrow_soql::types::FieldType as T;

/// The org's one user, the admin every session acts as.
pub const USERNAME: &str = "admin@sfarrow.test";

const INDUSTRIES: &[&str] = &[
    "Agriculture",
    "Banking",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Finance",
    "Healthcare",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Transportation",
    "Utilities",
];
pub const LEAD_SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
pub const STAGES: &[&str] = &[
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
];

fn name_field(name: &str, length: u32) -> FieldDef {
    FieldDef {
        length,
        nillable: false,
        name_field: true,
        ..FieldDef::new(name, T::String)
    }
}

fn derived_name() -> FieldDef {
    FieldDef {
        length: 121,
        name_field: true,
        ..FieldDef::new("Name", T::String).read_only()
    }
}

fn external_id() -> FieldDef {
    FieldDef {
        length: 50,
        unique: true,
        external_id: true,
        id_lookup: true,
        ..FieldDef::new("Ext_Id__c", T::String)
    }
}

pub fn account() -> ObjectDef {
    ObjectBuilder::new("Account", "Account", "Accounts", "001", true)
        .field(name_field("Name", 255))
        .field(external_id())
        .picklist(
            "Type",
            &[
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Partner",
                "Other",
            ],
        )
        .reference("ParentId", "Account", "Parent", "ChildAccounts")
        .address("Billing")
        .address("Shipping")
        .typed("Phone", T::Phone)
        .typed("Fax", T::Phone)
        .text("AccountNumber", 40)
        .typed("Website", T::Url)
        .text("Sic", 20)
        .picklist("Industry", INDUSTRIES)
        .number("AnnualRevenue", T::Currency, 18, 0)
        .number("NumberOfEmployees", T::Int, 8, 0)
        .picklist("Ownership", &["Public", "Private", "Subsidiary", "Other"])
        .text("TickerSymbol", 20)
        .typed("Description", T::TextArea)
        .picklist("Rating", &["Hot", "Warm", "Cold"])
        .text("Site", 80)
        .text("YearStarted", 4)
        .field(FieldDef::new("LastActivityDate", T::Date).read_only())
        .picklist("CustomerPriority__c", &["High", "Low", "Medium"])
        .multipicklist("Regions__c", &["AMER", "EMEA", "APAC", "LATAM"])
        .typed("Segment__c", T::Combobox)
        .number("Discount__c", T::Percent, 5, 2)
        .number("Health_Score__c", T::Double, 6, 3)
        .field(FieldDef {
            defaulted_on_create: true,
            nillable: false,
            default: Some("false".into()),
            ..FieldDef::new("Is_Partner__c", T::Boolean)
        })
        .number("Total_Units__c", T::Long, 18, 0)
        .typed("SLA_Expiration__c", T::Date)
        .typed("Last_Contacted_At__c", T::DateTime)
        .typed("Preferred_Call_Time__c", T::Time)
        .typed("Tax_Id__c", T::EncryptedString)
        .typed("Support_Email__c", T::Email)
        .location("HQ_Location__c")
        .build()
}

pub fn contact() -> ObjectDef {
    ObjectBuilder::new("Contact", "Contact", "Contacts", "003", true)
        .reference("AccountId", "Account", "Account", "Contacts")
        .picklist("Salutation", &["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."])
        .text("FirstName", 40)
        .required_text("LastName", 80)
        .field(derived_name())
        .field(external_id())
        .typed("Email", T::Email)
        .typed("Phone", T::Phone)
        .typed("MobilePhone", T::Phone)
        .text("Title", 128)
        .text("Department", 80)
        .typed("Birthdate", T::Date)
        .address("Mailing")
        .picklist("LeadSource", LEAD_SOURCES)
        .typed("DoNotCall", T::Boolean)
        .typed("HasOptedOutOfEmail", T::Boolean)
        .reference("ReportsToId", "Contact", "ReportsTo", "ReportsToContacts")
        .typed("Description", T::TextArea)
        .picklist("Level__c", &["Primary", "Secondary", "Tertiary"])
        .text("Languages__c", 100)
        .build()
}

pub fn opportunity() -> ObjectDef {
    let mut amount = FieldDef::new("Amount", T::Currency);
    amount.precision = 18;
    amount.scale = 2;
    ObjectBuilder::new("Opportunity", "Opportunity", "Opportunities", "006", true)
        .reference("AccountId", "Account", "Account", "Opportunities")
        .field(name_field("Name", 120))
        .field(external_id())
        .typed("Description", T::TextArea)
        .field(FieldDef {
            nillable: false,
            picklist_values: STAGES.iter().map(|s| s.to_string()).collect(),
            ..FieldDef::new("StageName", T::Picklist)
        })
        .field(amount)
        .number("Probability", T::Percent, 3, 0)
        .field(FieldDef {
            nillable: false,
            ..FieldDef::new("CloseDate", T::Date)
        })
        .picklist(
            "Type",
            &[
                "Existing Customer - Upgrade",
                "New Customer",
                "Existing Customer - Replacement",
            ],
        )
        .text("NextStep", 255)
        .picklist("LeadSource", LEAD_SOURCES)
        .field(FieldDef::new("IsClosed", T::Boolean).read_only())
        .field(FieldDef::new("IsWon", T::Boolean).read_only())
        .picklist(
            "ForecastCategoryName",
            &["Omitted", "Pipeline", "Best Case", "Commit", "Closed"],
        )
        .number("TotalOpportunityQuantity", T::Double, 18, 2)
        .build()
}

pub fn lead() -> ObjectDef {
    ObjectBuilder::new("Lead", "Lead", "Leads", "00Q", true)
        .text("FirstName", 40)
        .required_text("LastName", 80)
        .field(derived_name())
        .required_text("Company", 255)
        .text("Title", 128)
        .typed("Email", T::Email)
        .typed("Phone", T::Phone)
        .address("")
        .picklist("Industry", INDUSTRIES)
        .picklist("LeadSource", LEAD_SOURCES)
        .defaulted_picklist(
            "Status",
            &[
                "Open - Not Contacted",
                "Working - Contacted",
                "Closed - Converted",
                "Closed - Not Converted",
            ],
            "Open - Not Contacted",
        )
        .picklist("Rating", &["Hot", "Warm", "Cold"])
        .number("AnnualRevenue", T::Currency, 18, 0)
        .number("NumberOfEmployees", T::Int, 8, 0)
        .typed("IsConverted", T::Boolean)
        .build()
}

pub fn case() -> ObjectDef {
    ObjectBuilder::new("Case", "Case", "Cases", "500", true)
        .field(FieldDef {
            length: 30,
            name_field: true,
            ..FieldDef::new("CaseNumber", T::String).read_only()
        })
        .reference("AccountId", "Account", "Account", "Cases")
        .reference("ContactId", "Contact", "Contact", "Cases")
        .text("Subject", 255)
        .typed("Description", T::TextArea)
        .defaulted_picklist("Status", &["New", "Working", "Escalated", "Closed"], "New")
        .defaulted_picklist("Priority", &["High", "Medium", "Low"], "Medium")
        .picklist("Origin", &["Phone", "Email", "Web"])
        .picklist(
            "Type",
            &[
                "Mechanical",
                "Electrical",
                "Electronic",
                "Structural",
                "Other",
            ],
        )
        .picklist(
            "Reason",
            &[
                "Installation",
                "Equipment Complexity",
                "Performance",
                "Breakdown",
                "Other",
            ],
        )
        .field(FieldDef::new("IsClosed", T::Boolean).read_only())
        .field(FieldDef::new("ClosedDate", T::DateTime).read_only())
        .typed("IsEscalated", T::Boolean)
        .typed("SuppliedEmail", T::Email)
        .build()
}

pub fn user() -> ObjectDef {
    let required = |name: &str, length: u32| FieldDef {
        length,
        nillable: false,
        ..FieldDef::new(name, T::String)
    };
    ObjectBuilder::new("User", "User", "Users", "005", false)
        .field(FieldDef {
            unique: true,
            id_lookup: true,
            length: 80,
            ..required("Username", 80)
        })
        .text("FirstName", 40)
        .field(required("LastName", 80))
        .field(derived_name())
        .field(FieldDef {
            nillable: false,
            ..FieldDef::new("Email", T::Email)
        })
        .field(required("Alias", 8))
        .typed("IsActive", T::Boolean)
        .field(required("TimeZoneSidKey", 40))
        .field(required("LocaleSidKey", 40))
        .field(required("EmailEncodingKey", 40))
        .field(required("LanguageLocaleKey", 40))
        .text("ProfileId", 18)
        .text("Title", 80)
        .text("Department", 80)
        .text("CompanyName", 80)
        .typed("Phone", T::Phone)
        .reference("ManagerId", "User", "Manager", "ManagedUsers")
        .field(FieldDef {
            picklist_values: ["Standard", "PowerPartner", "CsnOnly"]
                .map(String::from)
                .to_vec(),
            ..FieldDef::new("UserType", T::Picklist).read_only()
        })
        .build()
}

pub fn standard_objects() -> Vec<ObjectDef> {
    vec![account(), contact(), opportunity(), lead(), case(), user()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_type_but_base64_json_and_anytype_is_covered() {
        let objects = standard_objects();
        for t in T::all() {
            if matches!(t, T::Base64 | T::Json | T::AnyType) {
                continue;
            }
            assert!(
                objects
                    .iter()
                    .any(|o| o.fields.iter().any(|f| f.ftype == t)),
                "no field of type {t}"
            );
        }
    }

    #[test]
    fn compounds_name_their_components() {
        let a = account();
        let billing = a.field("BillingAddress").unwrap();
        assert_eq!(billing.components.len(), 8);
        assert_eq!(
            a.field("BillingCity")
                .unwrap()
                .compound_field_name
                .as_deref(),
            Some("BillingAddress")
        );
        assert_eq!(a.field("hq_location__c").unwrap().components.len(), 2);
    }
}
