#include "runtime/cluster/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace valmesh::cluster_auth {

namespace {

std::string hex(const unsigned char* data, size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 0x0f]);
  }
  return out;
}

}  // namespace

std::string new_challenge() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("no random bytes for a cluster challenge");
  return hex(bytes.data(), bytes.size());
}

std::string proof(std::string_view secret, std::string_view role,
                  std::string_view challenge, std::string_view prover) {
  std::string text = "valmesh-cluster-auth/1\n";
  text.append(role).append("\n").append(challenge).append("\n").append(prover);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(),
       mac.data(), &len);
  return hex(mac.data(), len);
}

bool verify(std::string_view secret, std::string_view role,
            std::string_view challenge, std::string_view prover,
            std::string_view given) {
  auto expected = proof(secret, role, challenge, prover);
  return given.size() == expected.size() &&
         CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

}  // namespace valmesh::cluster_auth
