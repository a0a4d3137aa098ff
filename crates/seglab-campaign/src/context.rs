//! What templates see: the person, what they did, what the ladder picked, the
//! best-sellers, their offer, the campaign and their links.
//!
//! Every optional value that is missing is left out of the context (not
//! `none`), so `{{ pick.product.name }}` renders empty rather than failing
//! (see [`crate::template`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::def::{CampaignDef, OfferDef};

/// Everything one message is rendered from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Who receives it.
    pub person: PersonCtx,
    /// What they did last, whatever the evidence.
    pub behavior: Behavior,
    /// What the personalization ladder chose to talk about.
    pub pick: Pick,
    /// Top products by orders over the last 30 days.
    pub best_sellers: BestSellers,
    /// Their coupon, when the campaign has an offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<OfferCtx>,
    /// The campaign and the variant chosen.
    pub campaign: CampaignCtx,
    /// Links every message may need.
    pub links: Links,
}

/// The person (`person.*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersonCtx {
    /// The person's seglab id.
    pub id: String,
    /// The user id they were identified with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Their `email` trait, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Every trait (a JSON object; `null` when they have none).
    pub traits: serde_json::Value,
}

/// What the person looked at last (`behavior.*`), regardless of how often.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Behavior {
    /// The product of their last `Product Viewed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_viewed_product: Option<Product>,
    /// The category of their last `Product Viewed` that had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_viewed_category: Option<String>,
}

/// A product, as far as it is known (`id` always is).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// `product_id` in events.
    pub id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Its price, in the shop's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// Its page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl Product {
    /// A product known by its id only.
    pub fn new(id: impl Into<String>) -> Product {
        Product {
            id: id.into(),
            ..Product::default()
        }
    }
}

/// The step of the personalization ladder a message was written from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The person viewed one product often enough to name it.
    Product,
    /// The person viewed one category often enough to name it.
    Category,
    /// Too little evidence: the shop's best-sellers.
    #[default]
    BestSellers,
}

impl Step {
    /// `product`, `category` or `best_sellers` (recorded with each send).
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Product => "product",
            Step::Category => "category",
            Step::BestSellers => "best_sellers",
        }
    }
}

/// What the ladder picked (`pick.*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    /// The step chosen.
    pub step: Step,
    /// The product named (step `product`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    /// The category named (steps `product`, when the product has one, and
    /// `category`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Products to show: best-sellers of the category (without the product
    /// named) at steps `product` and `category`, overall best-sellers otherwise.
    pub products: Vec<Product>,
}

/// The best-sellers (`best_sellers.*`): top products by number of orders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BestSellers {
    /// Over every category, most ordered first.
    pub overall: Vec<Product>,
    /// Per category, most ordered first.
    pub by_category: BTreeMap<String, Vec<Product>>,
}

/// The person's coupon (`offer.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferCtx {
    /// The code to type at checkout.
    pub code: String,
    /// The campaign's `discount` text (e.g. `10%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<String>,
    /// When the code stops working (RFC 3339), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The campaign (`campaign.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignCtx {
    /// Its name.
    pub name: String,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The name of the message (variant) chosen.
    pub variant: String,
}

/// Links (`links.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    /// The one-click unsubscribe page of this person and channel.
    pub unsubscribe: String,
}

impl Context {
    /// A context with made-up data for every field, to preview a campaign's
    /// messages (and to try its templates at check time).
    pub fn sample(def: &CampaignDef) -> Context {
        let mut ctx = Context::sample_with(def.offer.as_ref());
        ctx.campaign = CampaignCtx {
            name: def.name.clone(),
            title: def.title.clone(),
            variant: def
                .messages
                .first()
                .map(|m| m.name.clone())
                .unwrap_or_default(),
        };
        ctx
    }

    /// [`Context::sample`] without a campaign.
    pub(crate) fn sample_with(offer: Option<&OfferDef>) -> Context {
        let product = |id: &str, name: &str| Product {
            id: id.into(),
            name: Some(name.into()),
            category: Some("Shoes".into()),
            price: Some(89.0),
            url: Some(format!("https://shop.example/p/{id}")),
            image: Some(format!("https://shop.example/i/{id}.jpg")),
        };
        let viewed = product("p1", "Trail Runner");
        let others = vec![product("p2", "Road Runner"), product("p3", "Sandal")];
        Context {
            person: PersonCtx {
                id: "person-1".into(),
                user_id: Some("user-1".into()),
                email: Some("ada@example.com".into()),
                traits: serde_json::json!({ "name": "Ada", "email": "ada@example.com" }),
            },
            behavior: Behavior {
                last_viewed_product: Some(viewed.clone()),
                last_viewed_category: Some("Shoes".into()),
            },
            pick: Pick {
                step: Step::Product,
                product: Some(viewed),
                category: Some("Shoes".into()),
                products: others.clone(),
            },
            best_sellers: BestSellers {
                overall: others.clone(),
                by_category: BTreeMap::from([("Shoes".to_string(), others)]),
            },
            offer: offer.map(|offer| OfferCtx {
                code: "SAMPLE-ABCD2345".into(),
                discount: offer.discount.clone(),
                expires_at: offer
                    .valid_for_ms
                    .map(|_| "2026-12-10T09:00:00Z".to_string()),
            }),
            campaign: CampaignCtx {
                name: "sample".into(),
                title: Some("Sample".into()),
                variant: "a".into(),
            },
            links: Links {
                unsubscribe: "https://shop.example/u/sample".into(),
            },
        }
    }
}
