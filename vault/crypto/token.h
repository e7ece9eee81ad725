/*
 * token.h - the tokens the vault hands out instead of personal data.
 *
 * Formats (PROTOCOL.md, "Tokens", says what each reveals):
 *   record        rec_<v>_<32 base64url chars>  SIV-style encryption of the
 *                 record id under token key v: unforgeable, hides the id.
 *   opaque field  tok_<v>_<48 chars>  encrypts record id, field, the field's
 *                 generation and 56 random bits: a new token on every request,
 *                 no storage, stale as soon as the field changes.
 *   deterministic det_<e>_<32 chars>  a keyed hash of field and normalized
 *                 value plus a MAC, both under subkeys of KEK epoch e
 *                 (context "vdettag2"), the epoch current at issue: equal
 *                 values give equal tokens within one epoch, but only
 *                 within one join domain (policy.h): the domain is bound
 *                 into the keyed hash, so two domains get tags that cannot
 *                 be compared (an equality test is a grant, not a given).
 *                 The tag can confirm a guessed value, so it dies with its
 *                 epoch: once e is retired, no copy of the data file or a
 *                 backup can be matched against it, and the token answers
 *                 VAULT_E_BAD_TOKEN (token_ref.retired_epoch).
 *   card          13-19 digits, same length as the card, last four kept,
 *                 Luhn-valid, some digits a MAC (token key); resolved
 *                 through an index keyed by a keyed hash of the token under
 *                 a subkey of a KEK epoch ("vcardix2"). A rotation's rewrap
 *                 re-keys each entry under the new epoch, and a lookup tries
 *                 every epoch of the ring, so card tokens outlive rotations;
 *                 the entries of a deleted record in old copies die with
 *                 their epoch.
 * Every textual token is authenticated with a key of the ring, so a token
 * the vault did not issue, or a mistyped one, is refused by token_parse()
 * before any storage lookup. Card tokens carry only 3-4 MAC digits (the
 * format leaves no room for more): a forged one passes with probability
 * 1e-4 (1e-3 for 13-14 digit cards) and then finds nothing in the index.
 */
#ifndef VAULT_CRYPTO_TOKEN_H
#define VAULT_CRYPTO_TOKEN_H

#include <stddef.h>
#include <stdint.h>

struct keyring;

#define TOKEN_MAX_LEN 72      /* longest token text, without NUL */
#define TOKEN_TAG_BYTES 16    /* deterministic tag, card index key */
#define CARD_MIN_DIGITS 13
#define CARD_MAX_DIGITS 19

enum token_type {
	TOKEN_RECORD = 1,
	TOKEN_OPAQUE = 2,
	TOKEN_DET = 3,
	TOKEN_CARD = 4,
};

/* What a parsed token stands for. */
struct token_ref {
	enum token_type type;
	uint32_t key_version;
	uint64_t record_id;      /* record, opaque */
	uint8_t field;           /* opaque, det, card */
	uint32_t field_gen;      /* opaque */
	uint8_t tag[TOKEN_TAG_BYTES]; /* det: value tag (card: set by the caller) */
	int retired_epoch;       /* det refused: its KEK epoch was retired */
};

/*
 * Subkeys derived from the ring's token keys (record, opaque and card token
 * MACs and encryption) and from its KEK epochs (deterministic tags and
 * MACs, card index keys), in secure memory.
 */
struct token_keys;

int token_keys_derive(const struct keyring *kr, struct token_keys **out);
void token_keys_free(struct token_keys *tk);
uint32_t token_keys_current(const struct token_keys *tk);
/* The KEK epochs: the current one (det tokens are issued under it), each. */
uint32_t token_keys_epoch(const struct token_keys *tk);
size_t token_keys_nepochs(const struct token_keys *tk);
uint32_t token_keys_epoch_at(const struct token_keys *tk, size_t i);
int token_keys_has_epoch(const struct token_keys *tk, uint32_t epoch);

/* Makers write NUL-terminated text to out (TOKEN_MAX_LEN + 1 bytes). */
int token_record_make(const struct token_keys *tk, uint64_t record_id, char *out);
int token_opaque_make(const struct token_keys *tk, uint64_t record_id,
    uint8_t field, uint32_t gen, char *out);
/*
 * A deterministic token of value in field for the join domain
 * domain[0..domain_len) (a policy name, never empty), under the current KEK
 * epoch (token_keys_epoch()). Also returns the tag that keys the
 * deterministic index. Returns 0 or VAULT_E_INVALID_VALUE (an empty or
 * overlong domain).
 */
#define TOKEN_DOMAIN_MAX 31
int token_det_make(const struct token_keys *tk, const char *domain,
    size_t domain_len, uint8_t field, const char *value, size_t len, char *out,
    uint8_t tag[TOKEN_TAG_BYTES]);
/*
 * A fresh random card token for card[0..len) (digits). The caller makes sure
 * it differs from the card and is not in use (card_index_key() keys the
 * index), drawing again otherwise.
 */
int token_card_make(const struct token_keys *tk, const char *card, size_t len,
    char *out);
/*
 * The index key of a card token under KEK epoch epoch: a keyed hash, so the
 * index holds no digits. Returns 0 or VAULT_E_NOT_FOUND (no such epoch).
 */
int token_card_index_key(const struct token_keys *tk, uint32_t epoch,
    const char *token, size_t len, uint8_t key[TOKEN_TAG_BYTES]);

/*
 * Parse and authenticate s[0..len). Returns 0 or VAULT_E_BAD_TOKEN (with
 * out->retired_epoch set for a det token of a retired KEK epoch). Does not
 * touch storage. A det token's key_version is its KEK epoch.
 */
__attribute__((warn_unused_result))
int token_parse(const struct token_keys *tk, const char *s, size_t len,
    struct token_ref *out);

#endif
