// Credentials in actr HEAD's shape: encoding, signing, verification with typed refusals, key
// rotation and expiry on an injected clock, and the key directory on disk.
#include <actr/error.hpp>
#include <actr/identity.hpp>

#include "actr.pb.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <unistd.h>

namespace {

using namespace actr;
using namespace std::chrono_literals;

ActrId id_of(std::uint64_t serial, std::string name = "echo") {
  return ActrId{Realm{101}, serial, ActrType{"acme", std::move(name), "1.0.0"}};
}

// A settable wall clock shared by issuer and ring.
struct FakeClock {
  std::shared_ptr<std::atomic<std::uint64_t>> now = std::make_shared<std::atomic<std::uint64_t>>(1'800'000'000);
  UnixClock fn() const {
    return [n = now] { return n->load(); };
  }
  void advance(std::uint64_t s) const { now->fetch_add(s); }
};

std::shared_ptr<CredentialIssuer> issuer(const FakeClock& clock, std::chrono::seconds lifetime = 3600s,
                                         std::uint32_t key_id = 1) {
  auto is = CredentialIssuer::ephemeral(lifetime, key_id, clock.fn());
  EXPECT_TRUE(is);
  return *is;
}

TEST(Identity, ClaimsAndCredentialHaveActrHeadsFieldNumbers) {
  IdentityClaims c{101, "1a2b3c@101/acme:echo:1.0.0", 1'800'000'000};
  // Hand-decoded against actr.proto's IdentityClaims{realm_id=1 varint, actor_id=2 string, expires_at=3 varint}.
  pb::IdentityClaims m;
  const auto raw = c.to_protobuf();
  ASSERT_TRUE(m.ParseFromArray(raw.data(), static_cast<int>(raw.size())));
  EXPECT_EQ(raw[0], 0x08);  // field 1, varint
  EXPECT_EQ(m.realm_id(), 101u);
  EXPECT_EQ(m.actor_id(), "1a2b3c@101/acme:echo:1.0.0");
  EXPECT_EQ(m.expires_at(), 1'800'000'000u);
  Credential cred{7, raw, Bytes(64, 0xab)};
  const auto enc = cred.to_protobuf();
  EXPECT_EQ(enc[0], 0x08);  // key_id = 1, varint (the 3efc shape had bytes here)
  EXPECT_EQ(enc[1], 7);
  EXPECT_EQ(enc[2], 0x12);  // claims = 2, length-delimited
  auto back = Credential::from_protobuf(enc);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, cred);
  EXPECT_EQ(*back->unverified_claims(), c);
}

TEST(Identity, Base64IsStandardPaddedAndStrict) {
  EXPECT_EQ(base64_encode(Bytes{}), "");
  EXPECT_EQ(base64_encode(Bytes{'f'}), "Zg==");
  EXPECT_EQ(base64_encode(Bytes{'f', 'o'}), "Zm8=");
  EXPECT_EQ(base64_encode(Bytes{'f', 'o', 'o'}), "Zm9v");
  EXPECT_EQ(base64_encode(Bytes{0xfb, 0xff}), "+/8=");  // standard alphabet, not URL-safe
  EXPECT_EQ(*base64_decode("Zm8="), (Bytes{'f', 'o'}));
  EXPECT_EQ(*base64_decode("+/8="), (Bytes{0xfb, 0xff}));
  for (const char* bad : {"Zm8", "Zm=8", "-_8=", "Zm9v\n", " Zm9v", "Z===", "Zm9v====", "Zg=a"})
    EXPECT_FALSE(base64_decode(bad)) << bad;
}

TEST(Identity, IssuedCredentialVerifiesAndRoundTripsThroughTheHeaderForm) {
  FakeClock clock;
  auto is = issuer(clock);
  const auto who = id_of(0x1a2b3c);
  const auto cred = is->issue(who);
  EXPECT_EQ(cred.key_id, 1u);
  EXPECT_EQ(cred.signature.size(), 64u);
  const auto header = cred.to_base64();
  auto parsed = Credential::from_base64(header);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, cred);
  auto claims = is->key_ring()->verify(*parsed, who);
  ASSERT_TRUE(claims) << claims.error().message();
  EXPECT_EQ(claims->actor_id, "1a2b3c@101/acme:echo:1.0.0");
  EXPECT_EQ(claims->realm_id, 101u);
  EXPECT_EQ(claims->expires_at, clock.now->load() + 3600);
}

TEST(Identity, TamperedClaimsOrSignatureAreInvalid) {
  FakeClock clock;
  auto is = issuer(clock);
  const auto who = id_of(5);
  const auto good = is->issue(who);
  auto ring = is->key_ring();
  // Claims rewritten to a longer life, signature kept.
  auto claims = *good.unverified_claims();
  claims.expires_at += 1'000'000;
  Credential forged = good;
  forged.claims = claims.to_protobuf();
  EXPECT_EQ(ring->verify(forged, who).error(), NetworkError::CredentialInvalid);
  for (std::size_t i : {std::size_t{0}, std::size_t{31}, std::size_t{63}}) {
    Credential bad = good;
    bad.signature[i] ^= 0x01;
    EXPECT_EQ(ring->verify(bad, who).error(), NetworkError::CredentialInvalid) << i;
  }
  Credential short_sig = good;
  short_sig.signature.pop_back();
  EXPECT_EQ(ring->verify(short_sig, who).error(), NetworkError::CredentialInvalid);
  // Signed by another issuer that uses the same key id: the signature does not verify here.
  auto other = issuer(clock);
  EXPECT_EQ(ring->verify(other->issue(who), who).error(), NetworkError::CredentialInvalid);
}

TEST(Identity, UnknownKeyIdExpiredAndMismatchedAreTyped) {
  FakeClock clock;
  auto is = issuer(clock, 60s);
  const auto who = id_of(5);
  auto cred = is->issue(who);
  auto ring = is->key_ring();
  Credential wrong_key = cred;
  wrong_key.key_id = 2;
  EXPECT_EQ(ring->verify(wrong_key, who).error(), NetworkError::UnknownSigningKey);
  EXPECT_EQ(ring->verify(cred, id_of(6)).error(), NetworkError::IdentityMismatch);
  EXPECT_EQ(ring->verify(cred, id_of(5, "other")).error(), NetworkError::IdentityMismatch);
  ActrId other_realm = who;
  other_realm.realm.realm_id = 102;
  EXPECT_EQ(ring->verify(cred, other_realm).error(), NetworkError::IdentityMismatch);
  clock.advance(59);
  EXPECT_TRUE(ring->verify(cred, who));
  clock.advance(1);  // expires_at itself is already invalid (actr: expires_at <= now)
  EXPECT_EQ(ring->verify(cred, who).error(), NetworkError::CredentialExpired);
  EXPECT_EQ(make_error_code(NetworkError::CredentialExpired), NetworkCondition::Permanent);
}

TEST(Identity, RotatedKeyIsAcceptedUntilItsCredentialsExpireThenRefused) {
  FakeClock clock;
  auto is = issuer(clock, 100s);
  auto ring = is->key_ring();
  const auto who = id_of(9);
  const auto early = is->issue(who);  // expires t0 + 100
  clock.advance(40);
  const auto late = is->issue(who);  // expires t0 + 140: the last the old key signs
  ASSERT_TRUE(is->rotate(*SigningKey::generate(2)));
  EXPECT_FALSE(is->rotate(*SigningKey::generate(1)));  // id 1 is still trusted: ids never repeat
  EXPECT_EQ(is->current_key().key_id(), 2u);
  const auto fresh = is->issue(who);
  EXPECT_EQ(fresh.key_id, 2u);
  EXPECT_TRUE(ring->verify(early, who));  // the old key still vouches for what it signed
  EXPECT_TRUE(ring->verify(late, who));
  EXPECT_TRUE(ring->verify(fresh, who));
  clock.advance(60);  // t0 + 100
  EXPECT_EQ(ring->verify(early, who).error(), NetworkError::CredentialExpired);
  EXPECT_TRUE(ring->verify(late, who));
  clock.advance(40);  // t0 + 140: every credential of the old key has expired; so has the key
  EXPECT_EQ(ring->verify(late, who).error(), NetworkError::UnknownSigningKey);
  EXPECT_FALSE(ring->find(1));
  EXPECT_EQ(ring->verify(fresh, who).error(), NetworkError::CredentialExpired);  // issued at t0 + 40
  EXPECT_TRUE(ring->verify(is->issue(who), who));                               // the new key signs on
}

TEST(Identity, RetiredKeyRefusesClaimsThatOutliveItsRetirement) {
  FakeClock clock;
  auto old_key = *SigningKey::generate(1);
  KeyRing ring(clock.fn());
  ring.add(old_key.verifying_key(), clock.now->load() + 100);
  const auto who = id_of(3);
  IdentityClaims claims{101, who.to_string(), clock.now->load() + 50};
  Credential within{1, claims.to_protobuf(), {}};
  within.signature = old_key.sign(within.claims);
  EXPECT_TRUE(ring.verify(within, who));
  claims.expires_at = clock.now->load() + 500;
  Credential beyond{1, claims.to_protobuf(), {}};
  beyond.signature = old_key.sign(beyond.claims);
  EXPECT_EQ(ring.verify(beyond, who).error(), NetworkError::CredentialInvalid);
}

TEST(Identity, GarbageGivesTypedErrorsNeverACrash) {
  FakeClock clock;
  auto is = issuer(clock);
  auto ring = is->key_ring();
  const auto who = id_of(1);
  const auto good = is->issue(who).to_protobuf();
  std::mt19937 rng(12345);
  const std::set<Error> allowed = {make_error_code(NetworkError::CredentialInvalid),
                                   make_error_code(NetworkError::UnknownSigningKey),
                                   make_error_code(NetworkError::CredentialExpired),
                                   make_error_code(NetworkError::IdentityMismatch)};
  int accepted = 0;
  for (int round = 0; round < 2000; ++round) {
    Bytes b;
    if (round % 2 == 0) {  // random bytes of random length
      b.resize(rng() % 200);
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    } else {  // the real credential with a few bytes flipped, cut or extended
      b = good;
      for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) b[rng() % b.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      if (rng() % 4 == 0) b.resize(rng() % b.size());
    }
    auto cred = Credential::from_protobuf(b);
    if (!cred) {
      EXPECT_EQ(cred.error(), NetworkError::CredentialInvalid);
      continue;
    }
    auto r = ring->verify(*cred, who);
    if (r) {
      ++accepted;  // only possible if the flips hit nothing signed (e.g. an unknown field)
      continue;
    }
    EXPECT_TRUE(allowed.count(r.error())) << r.error().message();
  }
  EXPECT_LT(accepted, 20);
  for (const char* text : {"", "!!!!", "AAAA", "not base64 at all", "Zg=="})
    EXPECT_FALSE(Credential::from_base64(text)) << text;
  EXPECT_EQ(Credential::from_base64("AAAA").error(), NetworkError::CredentialInvalid);
}

TEST(Identity, SigningKeyPemRoundTripAndRejectsOtherKeys) {
  auto key = *SigningKey::generate(4);
  auto pem = key.to_pem();
  ASSERT_TRUE(pem);
  EXPECT_NE(pem->find("BEGIN PRIVATE KEY"), std::string::npos);
  auto back = SigningKey::from_pem(4, *pem);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->verifying_key(), key.verifying_key());
  const Bytes msg{1, 2, 3};
  EXPECT_TRUE(key.verifying_key().verify(msg, back->sign(msg)));
  EXPECT_EQ(SigningKey::from_pem(4, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").error(),
            NetworkError::ConfigurationError);
  EXPECT_FALSE(VerifyingKey::from_raw(1, Bytes(31, 0)));
  auto raw = VerifyingKey::from_raw(4, key.verifying_key().raw());
  ASSERT_TRUE(raw);
  EXPECT_TRUE(raw->verify(msg, key.sign(msg)));
}

class KeyDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("actr-keys-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  static unsigned mode(const std::filesystem::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 0777;
  }
  std::filesystem::path dir;
};

TEST_F(KeyDirectoryTest, CreatedPrivateOnFirstUseAndReloaded) {
  auto kd = KeyDirectory::open(dir);
  ASSERT_TRUE(kd) << kd.error().message();
  EXPECT_EQ(mode(dir), 0700u);
  ASSERT_EQ(kd->keys().size(), 1u);
  EXPECT_EQ(kd->current().key_id(), 1u);
  EXPECT_EQ(mode(dir / "signing-key-1.pem"), 0600u);
  auto again = KeyDirectory::open(dir);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->current().verifying_key(), kd->current().verifying_key());
}

TEST_F(KeyDirectoryTest, RotationOnDiskKeepsOldCredentialsValid) {
  FakeClock clock;
  auto kd = *KeyDirectory::open(dir);
  auto first = *kd.issuer(100s, clock.fn());
  const auto who = id_of(2);
  const auto old_cred = first->issue(who);
  ASSERT_TRUE(kd.add_key());
  auto reopened = *KeyDirectory::open(dir);  // e.g. `actr signal` restarted after a rotation
  ASSERT_EQ(reopened.keys().size(), 2u);
  auto second = *reopened.issuer(100s, clock.fn());
  EXPECT_EQ(second->current_key().key_id(), 2u);
  EXPECT_TRUE(second->key_ring()->verify(old_cred, who));
  EXPECT_TRUE(second->key_ring()->verify(second->issue(who), who));
  clock.advance(100);
  EXPECT_FALSE(second->key_ring()->verify(old_cred, who));
}

TEST_F(KeyDirectoryTest, RefusesKeysOthersCanRead) {
  ASSERT_TRUE(KeyDirectory::open(dir));
  std::filesystem::permissions(dir / "signing-key-1.pem", std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  EXPECT_EQ(KeyDirectory::open(dir).error(), NetworkError::ConfigurationError);
  std::filesystem::permissions(dir / "signing-key-1.pem", std::filesystem::perms::group_read,
                               std::filesystem::perm_options::remove);
  std::filesystem::permissions(dir, std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
  EXPECT_EQ(KeyDirectory::open(dir).error(), NetworkError::ConfigurationError);
}

}  // namespace
