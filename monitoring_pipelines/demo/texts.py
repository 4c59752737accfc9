"""The support chatbot's knowledge base, questions and answers.

Each sentence states one fact; a supported answer restates its value, an unsupported one a
plausible wrong value, which :func:`unsupported_claims` recovers from the texts alone.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache

INTENTS: tuple[str, ...] = ("billing", "shipping", "returns", "account", "technical")

_ITEM_WORDS = ("order", "package", "parcel")
_QUESTION_OPENERS = ("", "Hi! ", "Hello, quick question. ", "Hey there. ", "Good morning! ")
_QUESTION_CLOSERS = ("", " Thanks!", " Thank you in advance.", " Any help is appreciated.")
_ANSWER_OPENERS = ("", "Sure! ", "Thanks for reaching out. ", "Happy to help. ")
_ANSWER_CLOSERS = ("", " Let me know if there is anything else I can do.", " I hope that helps!")


@dataclass(frozen=True)
class Fact:
    """One fact of an article and the ways customers ask about it and the bot answers it.

    Attributes:
        sentence: The article's sentence, with ``{v}`` where the value goes.
        answer: A paraphrase of the sentence for the bot's answer, with ``{v}``.
        value: The value the article states.
        wrong: Plausible values the article does not state (used by unsupported answers).
        questions: Question templates; ``{item}`` expands to order/package/parcel.
    """

    sentence: str
    answer: str
    value: str
    wrong: tuple[str, ...]
    questions: tuple[str, ...]

    @property
    def text(self) -> str:
        """The sentence as the article states it."""
        return self.sentence.format(v=self.value)


@dataclass(frozen=True)
class Article:
    """A knowledge-base article owned by one intent."""

    article_id: str
    intent: str
    title: str
    weight: float
    facts: tuple[Fact, ...]


def _f(sentence: str, answer: str, value: str, wrong: tuple[str, ...], *questions: str) -> Fact:
    return Fact(sentence, answer, value, wrong, questions)


# fmt: off
KNOWLEDGE_BASE: tuple[Article, ...] = (
    Article("KB-101", "shipping", "Delivery times", 0.40, (
        _f("Standard delivery within the country takes {v} after dispatch.",
           "Once your order ships, standard delivery usually needs {v} to reach you.",
           "3 to 5 business days", ("2 to 3 business days", "7 to 10 business days"),
           "How long does standard delivery take for my {item}?",
           "When will my {item} arrive with standard shipping?"),
        _f("Express delivery arrives in {v} when the order is placed before 2 pm.",
           "If you order before 2 pm, express shipping gets the package to you in {v}.",
           "1 business day", ("2 business days", "3 business days"),
           "How fast is express delivery?", "If I pay for express, when does my {item} come?"),
        _f("Orders placed on weekends are dispatched on {v}.",
           "We send out anything ordered over the weekend on the following {v}.",
           "Monday", ("Tuesday", "Wednesday"),
           "I ordered on Saturday, when will my {item} ship?",
           "Do you dispatch orders placed on a Sunday?"),
        _f("International deliveries take up to {v}.",
           "For shipments abroad, allow as much as {v} for delivery.",
           "14 business days", ("21 business days", "10 business days"),
           "How long does shipping take to another country?",
           "My {item} is going abroad, how long will it take?"),
    )),
    Article("KB-102", "shipping", "Shipping costs", 0.35, (
        _f("Standard shipping is free on orders over {v}.",
           "Once your basket passes {v}, you won't pay anything for standard shipping.",
           "$50", ("$35", "$75"),
           "When is shipping free?", "What's the minimum for free shipping on my {item}?"),
        _f("Express shipping costs a flat {v} per order.",
           "Our express option is charged at {v} for the whole order.",
           "$12.99", ("$9.99", "$15.99"),
           "How much is express shipping?", "What does it cost to get my {item} sent express?"),
        _f("Orders below the free-shipping threshold pay {v} for standard shipping.",
           "Smaller orders are charged {v} for standard delivery.",
           "$4.95", ("$5.95", "$3.95"),
           "What do I pay for shipping on a small {item}?",
           "How much is standard shipping if my order is cheap?"),
        _f("Shipping to Alaska and Hawaii carries a surcharge of {v}.",
           "Deliveries to Hawaii or Alaska add {v} on top of the normal shipping price.",
           "$8", ("$18", "$25"),
           "Is there an extra charge to ship to Hawaii?", "Does shipping to Alaska cost more?"),
    )),
    Article("KB-103", "shipping", "Tracking and carriers", 0.25, (
        _f("Domestic parcels are shipped with {v}.",
           "Orders inside the country travel with {v} as the carrier.",
           "UPS", ("FedEx", "DHL"),
           "Which carrier delivers my {item}?", "Who do you use for domestic shipping?"),
        _f("A tracking link is emailed within {v} of dispatch.",
           "You'll get the tracking link in your inbox no more than {v} after the parcel leaves.",
           "2 hours", ("6 hours", "45 minutes"),
           "When do I get a tracking number for my {item}?",
           "My {item} shipped but I have no tracking link yet, is that normal?"),
        _f("If tracking shows no movement for {v}, we open a carrier investigation.",
           "When tracking hasn't updated in {v}, we ask the carrier to investigate.",
           "4 days", ("7 days", "2 days"),
           "My tracking hasn't moved in days, what happens now?",
           "When do you look into my {item} if it seems stuck?"),
        _f("The carrier investigation of a missing parcel takes up to {v}.",
           "Looking into a missing parcel with the carrier can last as long as {v}.",
           "10 business days", ("3 business days", "15 business days"),
           "How long does a lost {item} investigation take?",
           "You opened an investigation for my {item}, how long until I hear back?"),
    )),
    Article("KB-201", "billing", "Payment methods", 0.25, (
        _f("We accept Visa, Mastercard, American Express and {v}.",
           "Besides the major cards, you can also pay with {v}.",
           "PayPal", ("Apple Pay", "Klarna"),
           "Which payment methods do you accept?", "Can I pay without a credit card?"),
        _f("An authorisation hold that is not captured is released within {v}.",
           "If a hold on your card never turns into a charge, your bank drops it after {v}.",
           "7 days", ("3 days", "14 days"),
           "There's a pending charge on my card for a cancelled order, when does it go away?",
           "How long do authorisation holds stay on my card?"),
        _f("Up to {v} can be applied to a single order.",
           "A single order accepts a maximum of {v}.",
           "3 gift cards", ("5 gift cards", "2 gift cards"),
           "How many gift cards can I use on one order?", "Can I combine several gift cards?"),
        _f("Payments in a foreign currency carry a conversion fee of {v}.",
           "Paying in another currency adds {v} to the amount for the exchange.",
           "1.5%", ("3%", "2.5%"),
           "Is there a fee if I pay in euros?", "Do you charge extra for foreign currency?"),
    )),
    Article("KB-202", "billing", "Refunds", 0.30, (
        _f("Refunds are issued to the original payment method within {v} of approval.",
           "After we approve it, the money goes back to the way you paid in {v}.",
           "5 business days", ("10 business days", "2 business days"),
           "How long does a refund take?", "When will I get my money back for the {item}?"),
        _f("Duplicate charges are reversed automatically within {v}.",
           "A double charge is undone by our system on its own in {v}.",
           "72 hours", ("24 hours", "5 days"),
           "I was charged twice for my {item}, what happens?",
           "How do I get a duplicate charge reversed?"),
        _f("Refunds taken as store credit carry a bonus of {v}.",
           "Choosing store credit instead of cash adds a {v} bonus to the refund amount.",
           "10%", ("5%", "15%"),
           "Is there any benefit to getting store credit?",
           "Should I take store credit for my {item} refund?"),
        _f("Refunds above {v} require approval from a billing specialist.",
           "Any refund bigger than {v} has to be signed off by someone on the billing team.",
           "$500", ("$200", "$1,000"),
           "Why does my large refund need extra approval?",
           "Who approves big refunds?"),
    )),
    Article("KB-203", "billing", "Invoices and receipts", 0.15, (
        _f("Invoices are emailed as PDF files within {v} of purchase.",
           "The PDF invoice lands in your inbox no later than {v} after you buy.",
           "24 hours", ("1 hour", "3 days"),
           "When do I receive the invoice for my {item}?", "I haven't got my invoice yet."),
        _f("Invoices from the last {v} can be downloaded from the Orders page.",
           "The Orders page keeps your invoices for {v}, ready to download.",
           "24 months", ("12 months", "6 months"),
           "Where can I download old invoices?", "How far back can I get invoices?"),
        _f("Business customers can add a VAT number to an invoice up to {v} after purchase.",
           "If you buy as a business, you have {v} to get your VAT number put on the invoice.",
           "30 days", ("14 days", "60 days"),
           "Can I add my VAT number to an invoice?",
           "I forgot my company VAT number, can you fix the invoice?"),
        _f("Corrected invoices are issued by the {v} team.",
           "Any correction to an invoice is handled by our {v} colleagues.",
           "Accounts Receivable", ("Customer Care", "Finance Operations"),
           "Who can correct a wrong invoice?", "My invoice has the wrong address, who fixes it?"),
    )),
    Article("KB-204", "billing", "Subscription and late fees", 0.30, (
        _f("The monthly Larkspur Plus subscription costs {v}.",
           "Larkspur Plus is billed at {v} each month.",
           "$9.99", ("$12.99", "$14.99"),
           "How much does Larkspur Plus cost?", "What's the monthly price of the subscription?"),
        _f("A late payment fee of {v} is charged when an instalment is overdue.",
           "If an instalment is overdue, we add {v} as a late fee.",
           "$5", ("$10", "$15"),
           "What is the fee for a late payment?", "I missed an instalment, will I be charged?"),
        _f("Overdue accounts are suspended after {v}.",
           "An account that stays overdue for {v} gets suspended.",
           "15 days", ("10 days", "21 days"),
           "When will my account be suspended for an unpaid bill?",
           "How long can a payment be overdue?"),
        _f("Annual plans can be cancelled for a prorated refund within the first {v}.",
           "If you cancel an annual plan during its first {v}, you get part of the money back.",
           "60 days", ("30 days", "90 days"),
           "Can I cancel my annual plan and get a refund?",
           "Is there a refund if I cancel the yearly subscription?"),
    )),
    Article("KB-301", "returns", "Return policy", 0.45, (
        _f("Most items can be returned within {v} of delivery.",
           "You have {v} from the day it arrives to send most items back.",
           "30 days", ("14 days", "60 days"),
           "How long do I have to return my {item}?", "What is your return window?"),
        _f("Opened electronics can be returned within {v}.",
           "For electronics that have been opened, the return window is {v}.",
           "15 days", ("7 days", "10 days"),
           "Can I return headphones I already opened?", "What's the return window for a laptop?"),
        _f("Items bought on clearance carry a restocking fee of {v} when returned.",
           "Clearance purchases come back with a {v} restocking fee taken off.",
           "15%", ("10%", "20%"),
           "Can I return a clearance item?", "Is there a fee for returning a sale item?"),
        _f("Every return is inspected at our {v} warehouse.",
           "Returned goods are checked at the {v} warehouse.",
           "Reno", ("Memphis", "Columbus"),
           "Where does my returned {item} go?", "Which warehouse handles returns?"),
    )),
    Article("KB-302", "returns", "Return shipping", 0.35, (
        _f("Prepaid return labels cost {v}, deducted from the refund.",
           "The prepaid label is {v}, and we take that out of your refund.",
           "$6.50", ("$4.50", "$8.50"),
           "How much does a return label cost?", "Do I pay to send my {item} back?"),
        _f("Larkspur Plus members get {v} per month.",
           "As a Larkspur Plus member you're allowed {v} every month.",
           "2 free returns", ("5 free returns", "unlimited free returns"),
           "Are returns free with Larkspur Plus?", "How many free returns do members get?"),
        _f("Drop-off returns are accepted at {v} stores.",
           "You can hand in your return at any {v} location.",
           "Staples", ("Walgreens", "Office Depot"),
           "Where can I drop off my return?", "Can I drop my {item} off in a store?"),
        _f("Return labels expire {v} after they are created.",
           "Once created, a return label stays valid for {v}.",
           "14 days", ("7 days", "30 days"),
           "Does my return label expire?", "I printed a label weeks ago, can I still use it?"),
    )),
    Article("KB-303", "returns", "Exchanges", 0.20, (
        _f("Exchanges for a different size are free within {v} of delivery.",
           "Swapping for another size costs nothing if you do it in the first {v}.",
           "45 days", ("30 days", "60 days"),
           "Can I exchange my shoes for another size?", "Is a size exchange free?"),
        _f("Each order allows up to {v}.",
           "An order can go through no more than {v}.",
           "2 exchanges", ("3 exchanges", "4 exchanges"),
           "How many times can I exchange my {item}?", "Can I exchange the same item again?"),
        _f("Replacement items are reserved for {v} while the original is in transit.",
           "While your original item travels back, we hold the replacement for {v}.",
           "10 days", ("7 days", "21 days"),
           "Will you hold my replacement while I send the old one back?",
           "How long is an exchange item kept for me?"),
        _f("Price differences on exchanges are settled with {v}.",
           "If the new item costs a different amount, we balance it using {v}.",
           "store credit", ("a bank transfer", "a gift card"),
           "What if the exchange item is cheaper?", "How is a price difference paid?"),
    )),
    Article("KB-401", "account", "Signing in and passwords", 0.40, (
        _f("Password reset links expire after {v}.",
           "A reset link only works for {v}, so use it quickly.",
           "30 minutes", ("24 hours", "2 hours"),
           "My password reset link doesn't work.", "How long is a reset link valid?"),
        _f("An account is locked after {v} in a row.",
           "We lock the account once there have been {v} in a row.",
           "5 failed attempts", ("3 failed attempts", "10 failed attempts"),
           "Why is my account locked?", "How many times can I get my password wrong?"),
        _f("A locked account unlocks automatically after {v}.",
           "The lock lifts by itself after {v}.",
           "15 minutes", ("1 hour", "45 minutes"),
           "How long until my locked account opens again?", "Do I need to call to unlock?"),
        _f("Two-factor codes are delivered by {v}.",
           "You get your two-factor code through a {v}.",
           "text message", ("voice call", "push notification"),
           "How do I receive my two-factor code?", "Where does the login code come from?"),
    )),
    Article("KB-402", "account", "Personal data and account deletion", 0.30, (
        _f("Account deletion requests are completed within {v}.",
           "Once you ask us to delete your account, it's done in no more than {v}.",
           "30 days", ("7 days", "90 days"),
           "How long does it take to delete my account?", "Please delete my account."),
        _f("Order records are kept for {v} for tax purposes.",
           "For tax reasons we retain your order history for {v}.",
           "7 years", ("5 years", "10 years"),
           "Do you keep my order history after deletion?", "How long do you store my orders?"),
        _f("A copy of your data can be requested once every {v}.",
           "You're entitled to a data export one time per {v}.",
           "12 months", ("6 months", "3 months"),
           "Can I get a copy of my personal data?", "How often can I request my data?"),
        _f("Privacy requests are handled by our Data Protection Officer, {v}.",
           "{v}, who is our Data Protection Officer, looks after privacy requests.",
           "Maria Lindqvist", ("Daniel Okafor", "Sarah Brennan"),
           "Who handles privacy requests?", "Who is your data protection officer?"),
    )),
    Article("KB-403", "account", "Loyalty points", 0.30, (
        _f("Members earn {v} per dollar spent.",
           "Every dollar you spend gives you {v}.",
           "2 points", ("1 point", "5 points"),
           "How many points do I earn?", "Do I earn points on my {item}?"),
        _f("Points expire after {v} without account activity.",
           "If your account is inactive for {v}, the points lapse.",
           "18 months", ("24 months", "36 months"),
           "Do my points expire?", "I haven't shopped in a while, are my points gone?"),
        _f("A $10 voucher costs {v}.",
           "Redeeming {v} gets you a $10 voucher.",
           "1,000 points", ("500 points", "2,000 points"),
           "How many points do I need for a voucher?", "What can I get for my points?"),
        _f("Points are credited {v} after delivery.",
           "Your points appear in your account {v} after the order arrives.",
           "14 days", ("3 days", "30 days"),
           "Why don't I see points for my last {item}?", "When are points added?"),
    )),
    Article("KB-501", "technical", "Mobile app", 0.40, (
        _f("The Larkspur app runs on {v} and later.",
           "You need {v} or newer to use the app on an iPhone.",
           "iOS 16", ("iOS 15", "iOS 17"),
           "Does the app work on my old iPhone?", "Which iOS version does the app need?"),
        _f("Android devices need {v} or newer.",
           "On Android phones, the app requires at least {v}.",
           "Android 11", ("Android 9", "Android 13"),
           "Can I install the app on my Android phone?", "What Android version is supported?"),
        _f("Offline mode keeps your cart for {v}.",
           "Without a connection, the app holds on to your cart for {v}.",
           "72 hours", ("24 hours", "7 days"),
           "Does the app save my cart offline?", "I lost signal, will my cart be kept?"),
        _f("Push notifications can be turned off under {v}.",
           "To stop push notifications, open {v} in the app.",
           "Settings > Alerts", ("Profile > Privacy", "Settings > Account"),
           "How do I stop app notifications?", "The app keeps sending me alerts about my {item}."),
    )),
    Article("KB-502", "technical", "Website and browsers", 0.30, (
        _f("The website supports the last {v} of Chrome, Firefox, Safari and Edge.",
           "We support Chrome, Firefox, Safari and Edge going back {v}.",
           "2 major versions", ("3 major versions", "5 major versions"),
           "Which browsers work with your site?", "Is my old browser supported?"),
        _f("Sessions time out after {v} of inactivity.",
           "If you're idle for {v}, you'll be signed out.",
           "20 minutes", ("60 minutes", "10 minutes"),
           "Why do I keep getting logged out?", "How long before the site signs me out?"),
        _f("Error code {v} means the payment provider declined the card.",
           "Seeing {v} at checkout tells you the card issuer turned the payment down.",
           "E-402", ("E-500", "E-301"),
           "What does the error at checkout mean?", "I get an error code when I pay."),
        _f("Saved carts are kept for {v}.",
           "Items left in a saved cart stay there for {v}.",
           "90 days", ("30 days", "60 days"),
           "How long do you keep my saved cart?", "Will my saved cart disappear?"),
    )),
    Article("KB-503", "technical", "Orders and checkout problems", 0.30, (
        _f("Orders can be cancelled within {v} of being placed.",
           "You have {v} after placing an order to cancel it.",
           "1 hour", ("24 hours", "30 minutes"),
           "Can I still cancel my {item}?", "How do I cancel an order I just placed?"),
        _f("Orders stuck in 'Processing' for more than {v} should be reported to support.",
           "If an order has shown 'Processing' for longer than {v}, let support know.",
           "48 hours", ("12 hours", "72 hours"),
           "My {item} has been processing forever.", "When should I worry about a pending order?"),
        _f("Promo codes are case-sensitive and limited to {v} per order.",
           "Only {v} can be applied to each order, and capitalisation matters.",
           "1 code", ("2 codes", "3 codes"),
           "My promo code doesn't work.", "Can I use two discount codes on one order?"),
        _f("Live agents answer the support chat from {v} Eastern time.",
           "Our human chat agents are available {v}, Eastern time.",
           "8 am to 10 pm", ("9 am to 5 pm", "7 am to 11 pm"),
           "When can I talk to a real person?", "What are your support hours?"),
    )),
)
# fmt: on


def question_variants(fact: Fact) -> list[str]:
    """Every question a customer may ask about ``fact`` (templates x slots x openers x closers).

    Args:
        fact: The fact asked about.

    Returns:
        The question texts, in a fixed order.
    """
    bodies = [
        template.format(item=item)
        for template in fact.questions
        for item in (_ITEM_WORDS if "{item}" in template else ("",))
    ]
    return [
        f"{opener}{body}{closer}"
        for body in bodies
        for opener, closer in itertools.product(_QUESTION_OPENERS, _QUESTION_CLOSERS)
    ]


def context_choices(article: Article, fact_index: int) -> list[tuple[int, ...]]:
    """Every retrieved context for a question about one fact: 2-4 of the article's sentences.

    Each context holds the asked fact's sentence plus one to three other sentences of the same
    article, in article order.

    Args:
        article: The retrieved article.
        fact_index: Index of the asked fact within ``article.facts``.

    Returns:
        The indices of the facts in each context, in a fixed order.
    """
    others = [i for i in range(len(article.facts)) if i != fact_index]
    return [
        tuple(sorted((fact_index, *extra)))
        for size in range(1, min(3, len(others)) + 1)
        for extra in itertools.combinations(others, size)
    ]


def render_context(article: Article, fact_indices: tuple[int, ...]) -> str:
    """The retrieved context made of the given facts' sentences."""
    return " ".join(article.facts[i].text for i in fact_indices)


def answer_variants(fact: Fact, *, supported: bool) -> list[str]:
    """Every answer about ``fact``: with its true value if supported, else with a wrong one.

    Args:
        fact: The fact the answer restates.
        supported: Whether the answer carries the article's value.

    Returns:
        The answer texts, in a fixed order.
    """
    values = (fact.value,) if supported else fact.wrong
    return [
        f"{opener}{_capitalised(fact.answer.format(v=value))}{closer}"
        for value in values
        for opener, closer in itertools.product(_ANSWER_OPENERS, _ANSWER_CLOSERS)
    ]


def unsupported_claims(answer: str, context: str) -> list[str]:
    """The fact values an answer states that its retrieved context does not contain.

    Args:
        answer: The bot's answer.
        context: The retrieved context it was given.

    Returns:
        The unsupported values, empty when every value in the answer is in the context.
    """
    pattern = _value_pattern()
    in_context = set(pattern.findall(context))
    return [value for value in pattern.findall(answer) if value not in in_context]


@cache
def _value_pattern() -> re.Pattern[str]:
    values = {v for article in KNOWLEDGE_BASE for f in article.facts for v in (f.value, *f.wrong)}
    # Longest first, so "$12.99" is never read as "$12"; the lookarounds keep "$5" out of "$50".
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(rf"(?<![\w$.,])(?:{alternatives})(?![\w]|[.,]\d)")


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
