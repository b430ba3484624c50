#include "ensemble/wire/signer.hpp"

#include "hex.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <functional>
#include <stdexcept>

namespace ensemble::wire {

// A keyed HMAC context prepared once; each signature duplicates it, so
// concurrent const calls never share mutable OpenSSL state.
struct Signer::Impl {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;

  ~Impl() {
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
  }
};

Signer::Signer(std::string key) : key_(std::move(key)) {
  if (key_.empty()) return;
  impl_ = std::make_unique<Impl>();
  impl_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (impl_->mac == nullptr) throw std::runtime_error("OpenSSL has no HMAC");
  impl_->keyed = EVP_MAC_CTX_new(impl_->mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (impl_->keyed == nullptr ||
      EVP_MAC_init(impl_->keyed, reinterpret_cast<const unsigned char*>(key_.data()), key_.size(), params) != 1) {
    throw std::runtime_error("cannot initialise HMAC-SHA256");
  }
}

Signer::~Signer() = default;
Signer::Signer(Signer&&) noexcept = default;
Signer& Signer::operator=(Signer&&) noexcept = default;

namespace {
constexpr std::size_t kDigestSize = 32;

bool digest(EVP_MAC_CTX* keyed, std::string_view header, std::string_view parent, std::string_view metadata,
            std::string_view content, unsigned char* out) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed);
  if (ctx == nullptr) return false;
  bool ok = true;
  for (std::string_view part : {header, parent, metadata, content}) {
    ok = ok && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()), part.size()) == 1;
  }
  std::size_t length = 0;
  ok = ok && EVP_MAC_final(ctx, out, &length, kDigestSize) == 1 && length == kDigestSize;
  EVP_MAC_CTX_free(ctx);
  return ok;
}
}  // namespace

std::string Signer::sign(std::string_view header, std::string_view parent, std::string_view metadata,
                         std::string_view content) const {
  if (!enabled()) return {};
  unsigned char out[kDigestSize];
  if (!digest(impl_->keyed, header, parent, metadata, content, out)) {
    throw std::runtime_error("HMAC computation failed");
  }
  return detail::to_hex(out, kDigestSize);
}

bool Signer::verify(std::string_view signature, std::string_view header, std::string_view parent,
                    std::string_view metadata, std::string_view content) const {
  if (!enabled()) return true;
  if (signature.size() != kDigestSize * 2) return false;
  unsigned char out[kDigestSize];
  if (!digest(impl_->keyed, header, parent, metadata, content, out)) return false;
  char expected[kDigestSize * 2];  // on the stack: every message received is verified
  detail::write_hex(out, kDigestSize, expected);
  return CRYPTO_memcmp(expected, signature.data(), sizeof expected) == 0;
}

bool ReplayGuard::admit(std::string_view signature) {
  if (signature.empty()) return true;
  std::uint64_t key = std::hash<std::string_view>{}(signature);
  if (!seen_.insert(key).second) return false;
  order_.push_back(key);
  if (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

}  // namespace ensemble::wire
