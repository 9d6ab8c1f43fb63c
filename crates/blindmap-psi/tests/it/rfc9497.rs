//! RFC 9497 Appendix A.1.1 (OPRF(ristretto255, SHA-512), mode 0x00), read from
//! `protocol-spec/vectors/rfc9497-ristretto255-sha512.json`: every intermediate is checked.

use blindmap_psi::oprf::{self, Blind, BlindedElement, EvaluatedElement, OprfKey};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Vector {
    seed: String,
    key_info: String,
    #[serde(rename = "skSm")]
    sk_sm: String,
    input: String,
    blind: String,
    blinded_element: String,
    evaluation_element: String,
    output: String,
}

fn vectors() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../protocol-spec/vectors/rfc9497-ristretto255-sha512.json");
    let text = std::fs::read_to_string(path).expect("vector file");
    serde_json::from_str(&text).expect("vector JSON")
}

fn bytes<const N: usize>(h: &str) -> [u8; N] {
    hex::decode(h).unwrap().try_into().unwrap()
}

#[test]
fn rfc9497_ristretto255_sha512_oprf_vectors() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 2, "the RFC has two OPRF-mode vectors for this suite");
    for v in vectors {
        let key = OprfKey::derive(&bytes(&v.seed), &hex::decode(&v.key_info).unwrap()).unwrap();
        assert_eq!(hex::encode(key.to_bytes()), v.sk_sm, "DeriveKeyPair");

        let input = hex::decode(&v.input).unwrap();
        let blind = Blind::from_bytes_unchecked(bytes(&v.blind)).unwrap();
        assert_eq!(hex::encode(blind.to_bytes()), v.blind, "SerializeScalar(blind)");
        let blinded = oprf::blind_with(&input, &blind).unwrap();
        assert_eq!(hex::encode(blinded.to_bytes()), v.blinded_element, "Blind");

        // The server side sees only the serialized blinded element.
        let received = BlindedElement::from_bytes(&blinded.to_bytes()).unwrap();
        let evaluated = key.blind_evaluate(&received);
        assert_eq!(hex::encode(evaluated.to_bytes()), v.evaluation_element, "BlindEvaluate");

        let evaluated = EvaluatedElement::from_bytes(&bytes(&v.evaluation_element)).unwrap();
        let output = oprf::finalize(&input, &blind, &evaluated).unwrap();
        assert_eq!(hex::encode(output.as_bytes()), v.output, "Finalize");

        // Evaluate (the server's direct computation) agrees with the oblivious one.
        assert_eq!(key.evaluate(&input).unwrap(), output, "Evaluate");
    }
}

#[test]
fn random_blinds_give_the_same_output() {
    let key = OprfKey::derive(&[7; 32], b"random blinds").unwrap();
    let mut rng = rand::rng();
    for input in [&b""[..], b"domain:acme.com", &[0u8; 1000]] {
        let (b1, e1) = oprf::blind(input, &mut rng).unwrap();
        let (b2, e2) = oprf::blind(input, &mut rng).unwrap();
        assert_ne!(e1, e2, "blinding hides the input");
        let o1 = oprf::finalize(input, &b1, &key.blind_evaluate(&e1)).unwrap();
        let o2 = oprf::finalize(input, &b2, &key.blind_evaluate(&e2)).unwrap();
        assert_eq!(o1, o2);
        assert_eq!(o1, key.evaluate(input).unwrap());
    }
}
