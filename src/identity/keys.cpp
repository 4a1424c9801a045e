// Ed25519 keys and base64 through OpenSSL (EVP): the only OpenSSL translation unit of the
// identity module.
#include <actr/error.hpp>
#include <actr/identity.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <climits>

namespace actr {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

constexpr std::size_t kPublicKeySize = 32;
constexpr std::size_t kSignatureSize = 64;

}  // namespace

struct VerifyingKey::Impl {
  Pkey pkey;
};
struct SigningKey::Impl {
  Pkey pkey;
};

std::string base64_encode(ConstBytes bytes) {
  if (bytes.empty()) return {};
  // EVP_EncodeBlock writes 4 characters per 3 bytes (padded) and a NUL, no line breaks.
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Result<Bytes> base64_decode(std::string_view text) {
  const Error bad = make_error_code(NetworkError::InvalidArgument);
  if (text.empty()) return Bytes{};
  if (text.size() % 4 != 0 || text.size() > static_cast<std::size_t>(INT_MAX)) return bad;
  // EVP_DecodeBlock skips leading/trailing whitespace and does not reject everything we want
  // rejected: the alphabet is checked here, padding only as the last one or two characters.
  std::size_t pad = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=') {
      if (i + 2 < text.size()) return bad;
      ++pad;
    } else if (!alpha || pad > 0) {
      return bad;
    }
  }
  Bytes out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) < pad) return bad;
  // EVP_DecodeBlock counts the padding as zero bytes; drop them.
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

Result<VerifyingKey> VerifyingKey::from_raw(std::uint32_t key_id, ConstBytes raw) {
  if (raw.size() != kPublicKeySize) return make_error_code(NetworkError::InvalidArgument);
  Pkey p(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
  if (!p) return make_error_code(NetworkError::InvalidArgument);
  VerifyingKey k;
  k.key_id_ = key_id;
  std::copy(raw.begin(), raw.end(), k.raw_.begin());
  auto impl = std::make_shared<Impl>();
  impl->pkey = std::move(p);
  k.impl_ = std::move(impl);
  return k;
}

bool VerifyingKey::verify(ConstBytes message, ConstBytes signature) const {
  if (!impl_ || signature.size() != kSignatureSize) return false;
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  // Ed25519 is one-shot: no digest, the whole message at once.
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, impl_->pkey.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) == 1;
}

Result<SigningKey> SigningKey::generate(std::uint32_t key_id) {
  Pkey p(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!p) return make_error_code(NetworkError::Internal);
  auto impl = std::make_shared<Impl>();
  std::array<std::uint8_t, kPublicKeySize> pub{};
  std::size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(p.get(), pub.data(), &len) != 1 || len != pub.size())
    return make_error_code(NetworkError::Internal);
  auto vk = VerifyingKey::from_raw(key_id, pub);
  if (!vk) return make_error_code(NetworkError::Internal);
  impl->pkey = std::move(p);
  return SigningKey(std::move(impl), std::move(*vk));
}

Result<SigningKey> SigningKey::from_pem(std::uint32_t key_id, std::string_view pem) {
  const Error bad = make_error_code(NetworkError::ConfigurationError);
  if (pem.size() > static_cast<std::size_t>(INT_MAX)) return bad;
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return make_error_code(NetworkError::Internal);
  Pkey p(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!p || EVP_PKEY_get_id(p.get()) != EVP_PKEY_ED25519) return bad;
  std::array<std::uint8_t, kPublicKeySize> pub{};
  std::size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(p.get(), pub.data(), &len) != 1 || len != pub.size()) return bad;
  auto vk = VerifyingKey::from_raw(key_id, pub);
  if (!vk) return bad;
  auto impl = std::make_shared<Impl>();
  impl->pkey = std::move(p);
  return SigningKey(std::move(impl), std::move(*vk));
}

Result<std::string> SigningKey::to_pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return make_error_code(NetworkError::Internal);
  // BIO_get_mem_data is a macro with a C cast; reading the pending bytes needs none.
  const std::size_t n = BIO_ctrl_pending(bio.get());
  std::string out(n, '\0');
  if (n == 0 || n > static_cast<std::size_t>(INT_MAX) || BIO_read(bio.get(), out.data(), static_cast<int>(n)) != static_cast<int>(n))
    return make_error_code(NetworkError::Internal);
  return out;
}

Bytes SigningKey::sign(ConstBytes message) const {
  Bytes sig(kSignatureSize);
  std::size_t len = sig.size();
  MdCtx ctx(EVP_MD_CTX_new());
  // With a valid Ed25519 key and a 64-byte buffer these cannot fail short of memory exhaustion;
  // an empty signature then fails every verification instead of passing one.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) != 1 || len != kSignatureSize)
    return {};
  return sig;
}

}  // namespace actr
