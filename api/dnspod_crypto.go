package api

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"encoding/hex"
	"errors"
)

// The DNSPod (Tencent Cloud) HTTPDNS ciphers, as the SDKs use them: DES-ECB with PKCS#5 padding under
// the first 8 bytes of the key text, and AES-128-CBC with PKCS#7 padding and a random IV sent in
// front of the ciphertext, under the key text padded with '0' to 16 bytes. Both travel as hex.

// errDecrypt is any failure to decrypt a parameter: bad hex, a bad length, bad padding.
var errDecrypt = errors.New("cannot decrypt")

// dnspodCipher encrypts and decrypts with one account's key for one algorithm.
type dnspodCipher interface {
	encrypt(plain []byte) string
	// appendEncrypt appends the hex ciphertext of plain to dst.
	appendEncrypt(dst, plain []byte) []byte
	decrypt(hexText string) ([]byte, error)
}

// desKey is the DES key the SDKs derive from a key text: its first 8 bytes (zero-padded if shorter).
func desKey(text string) []byte {
	k := make([]byte, 8)
	copy(k, text)
	return k
}

// aesKey is the AES-128 key the SDKs derive from a key text: the text padded with '0' to 16 bytes
// (the Android SDK's rule), or its first 16 bytes.
func aesKey(text string) []byte {
	k := bytes.Repeat([]byte{'0'}, 16)
	copy(k, text)
	return k
}

type desECB struct{ block cipher.Block }

func newDESECB(key []byte) (desECB, error) {
	b, err := des.NewCipher(key)
	return desECB{b}, err
}

func (c desECB) encrypt(plain []byte) string { return string(c.appendEncrypt(nil, plain)) }

func (c desECB) appendEncrypt(dst, plain []byte) []byte {
	var blk [des.BlockSize]byte
	n := des.BlockSize - len(plain)%des.BlockSize // PKCS#5 padding, the last block built apart
	for i := 0; i+des.BlockSize <= len(plain); i += des.BlockSize {
		c.block.Encrypt(blk[:], plain[i:i+des.BlockSize])
		dst = hex.AppendEncode(dst, blk[:])
	}
	var last [des.BlockSize]byte
	rest := copy(last[:], plain[len(plain)-(des.BlockSize-n)%des.BlockSize:])
	if n == des.BlockSize {
		rest = 0
	}
	for i := rest; i < des.BlockSize; i++ {
		last[i] = byte(n)
	}
	c.block.Encrypt(blk[:], last[:])
	return hex.AppendEncode(dst, blk[:])
}

func (c desECB) decrypt(hexText string) ([]byte, error) {
	ct, err := hex.DecodeString(hexText)
	if err != nil || len(ct) == 0 || len(ct)%des.BlockSize != 0 {
		return nil, errDecrypt
	}
	out := make([]byte, len(ct))
	for i := 0; i < len(ct); i += des.BlockSize {
		c.block.Decrypt(out[i:], ct[i:i+des.BlockSize])
	}
	return unpad(out, des.BlockSize)
}

type aesCBC struct{ block cipher.Block }

func newAESCBC(key []byte) (aesCBC, error) {
	b, err := aes.NewCipher(key)
	return aesCBC{b}, err
}

func (c aesCBC) encrypt(plain []byte) string { return string(c.appendEncrypt(nil, plain)) }

func (c aesCBC) appendEncrypt(dst, plain []byte) []byte {
	p := pad(plain, aes.BlockSize)
	out := make([]byte, aes.BlockSize+len(p))
	_, _ = rand.Read(out[:aes.BlockSize]) // crypto/rand never fails on supported systems
	cipher.NewCBCEncrypter(c.block, out[:aes.BlockSize]).CryptBlocks(out[aes.BlockSize:], p)
	return hex.AppendEncode(dst, out)
}

func (c aesCBC) decrypt(hexText string) ([]byte, error) {
	ct, err := hex.DecodeString(hexText)
	if err != nil || len(ct) < 2*aes.BlockSize || len(ct)%aes.BlockSize != 0 {
		return nil, errDecrypt
	}
	out := make([]byte, len(ct)-aes.BlockSize)
	cipher.NewCBCDecrypter(c.block, ct[:aes.BlockSize]).CryptBlocks(out, ct[aes.BlockSize:])
	return unpad(out, aes.BlockSize)
}

// pad appends PKCS#7 padding (PKCS#5 for DES's 8-byte blocks).
func pad(b []byte, size int) []byte {
	n := size - len(b)%size
	return append(bytes.Clone(b), bytes.Repeat([]byte{byte(n)}, n)...)
}

// unpad removes and checks PKCS#7 padding.
func unpad(b []byte, size int) ([]byte, error) {
	if len(b) == 0 || len(b)%size != 0 {
		return nil, errDecrypt
	}
	n := int(b[len(b)-1])
	if n == 0 || n > size {
		return nil, errDecrypt
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, errDecrypt
		}
	}
	return b[:len(b)-n], nil
}
