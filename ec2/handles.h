#pragma once
// RAII for every C handle ec2/ uses: one alias each.
#include <curl/curl.h>
#include <openssl/evp.h>

#include <memory>

namespace ec2 {

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};

using CurlPtr = std::unique_ptr<CURL, Deleter<&curl_easy_cleanup>>;
using CurlSlistPtr = std::unique_ptr<curl_slist, Deleter<&curl_slist_free_all>>;
using CurlSharePtr = std::unique_ptr<CURLSH, Deleter<&curl_share_cleanup>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<&EVP_MD_CTX_free>>;
using EvpMacPtr = std::unique_ptr<EVP_MAC, Deleter<&EVP_MAC_free>>;
using EvpMacCtxPtr = std::unique_ptr<EVP_MAC_CTX, Deleter<&EVP_MAC_CTX_free>>;

}  // namespace ec2
