package tosssim

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/toss"
)

// The members of Toss's Payment object (version 2022-11-16) that describe how the buyer
// paid: one per method, the others null. The simulator plays one buyer profile per method;
// the values are test data in Toss's formats, not anything a real issuer sent.

// cardJSON is Payment.card: a one-off, lump-sum payment with a personal credit card.
type cardJSON struct {
	Amount                json.Number `json:"amount"`
	IssuerCode            string      `json:"issuerCode"`
	AcquirerCode          *string     `json:"acquirerCode"`
	Number                string      `json:"number"`
	InstallmentPlanMonths int         `json:"installmentPlanMonths"`
	ApproveNo             string      `json:"approveNo"`
	UseCardPoint          bool        `json:"useCardPoint"`
	CardType              string      `json:"cardType"`
	OwnerType             string      `json:"ownerType"`
	AcquireStatus         string      `json:"acquireStatus"`
	IsInterestFree        bool        `json:"isInterestFree"`
	InterestPayer         *string     `json:"interestPayer"`
}

// simulatedCard is the card every simulated card payment is made with: Toss's code "11"
// (KB국민카드) issued and acquires it; the number is masked as Toss masks it.
const (
	simulatedCardCompany = "11"
	simulatedCardNumber  = "94906123****456*"
)

func (o *order) renderCard(english bool) *cardJSON {
	acquirer := simulatedCardCompany
	c := &cardJSON{
		Amount:       json.Number(o.total.String()),
		IssuerCode:   simulatedCardCompany,
		AcquirerCode: &acquirer,
		Number:       simulatedCardNumber,
		ApproveNo:    o.approveNo,
		CardType:     "신용",
		OwnerType:    "개인",
		// Sales are acquired days later, outside what the simulator plays: READY until a
		// full cancel withdraws them (before acquisition, so CANCELED rather than
		// CANCEL_REQUESTED).
		AcquireStatus: "READY",
	}
	if english {
		c.CardType, c.OwnerType = "CREDIT", "PERSONAL"
	}
	if o.status == toss.StatusCanceled {
		c.AcquireStatus = "CANCELED"
	}
	return c
}

// easyPayJSON is Payment.easyPay: paid from the provider's prepaid balance (토스페이 money),
// so no card is involved and nothing is discounted.
type easyPayJSON struct {
	Provider       string      `json:"provider"`
	Amount         json.Number `json:"amount"`
	DiscountAmount json.Number `json:"discountAmount"`
}

func (o *order) renderEasyPay(english bool) *easyPayJSON {
	provider := "토스페이"
	if english {
		provider = "TOSSPAY"
	}
	return &easyPayJSON{Provider: provider, Amount: json.Number(o.total.String()), DiscountAmount: "0"}
}

// transferJSON is Payment.transfer: the bank the buyer's account is at.
type transferJSON struct {
	BankCode         string `json:"bankCode"`
	SettlementStatus string `json:"settlementStatus"`
}

// mobilePhoneJSON is Payment.mobilePhone.
type mobilePhoneJSON struct {
	CustomerMobilePhone string `json:"customerMobilePhone"`
	SettlementStatus    string `json:"settlementStatus"`
	ReceiptURL          string `json:"receiptUrl"`
}

// simulatedMobilePhone is the buyer's phone number in every simulated mobile payment.
const simulatedMobilePhone = "01012345678"

// giftCertificateJSON is Payment.giftCertificate (문화상품권, 도서문화상품권, 게임문화상품권).
type giftCertificateJSON struct {
	ApproveNo        string `json:"approveNo"`
	SettlementStatus string `json:"settlementStatus"`
}

// Settlement happens days after the payment, outside what the simulator plays.
const settlementIncomplete = "INCOMPLETED"

// urlJSON is Payment.receipt and Payment.checkout.
type urlJSON struct {
	URL string `json:"url"`
}

// receiptURL is where Toss's sandbox shows the sales slip of paymentKey; the simulator
// serves no such page, so the link has Toss's shape and leads nowhere.
func receiptURL(paymentKey string) string {
	return "https://dashboard-sandbox.tosspayments.com/receipt/redirection?transactionId=" + paymentKey + "&ref=PX"
}

// checkoutURL is Toss's payment window of paymentKey (Payment.checkout.url).
func checkoutURL(paymentKey string) string {
	return "https://api.tosspayments.com/v1/payments/" + paymentKey + "/checkout"
}

// failureJSON is Payment.failure.
type failureJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// renderFailure is why the payment failed, null unless it did: the only failure the
// simulator keeps on a payment is a session that expired without its confirm (refused
// confirms leave the session IN_PROGRESS, as at Toss).
func (o *order) renderFailure() *failureJSON {
	if o.status != toss.StatusExpired {
		return nil
	}
	return &failureJSON{Code: "EXPIRED_PAYMENT", Message: "the payment expired before it was confirmed; try again"}
}

// approvalNumber is 8 random digits, the length of the approval numbers card companies
// and gift-certificate issuers give.
func approvalNumber() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1e8))
	if err != nil {
		panic(fmt.Sprintf("tosssim: crypto/rand: %v", err))
	}
	return fmt.Sprintf("%08d", n)
}

// maskAccount hides all but the first three and last three digits of an account number,
// as Toss shows refund accounts.
func maskAccount(number string) string {
	if len(number) <= 6 {
		return strings.Repeat("*", len(number))
	}
	return number[:3] + strings.Repeat("*", len(number)-6) + number[len(number)-3:]
}
