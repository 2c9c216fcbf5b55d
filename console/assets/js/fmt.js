// Labels in Korean and English, KRW amounts and KST times.
const dict = {
  ko: {
    overview: '개요', payments: '결제', attention: '확인 필요', health: '상태', signOut: '로그아웃',
    signIn: '로그인', apiKey: 'API 키', signInHint: 'paymentd가 발급한 운영자 또는 감사자 API 키를 입력하세요. 키는 짧은 세션으로 교환되며 브라우저에 저장되지 않습니다.',
    search: '검색', searchHint: '주문번호 또는 paymentKey', status: '상태', seller: '판매자', buyer: '구매자', from: '시작일', to: '종료일',
    apply: '적용', all: '전체', next: '다음', first: '처음으로', orderId: '주문번호', orderName: '주문명', amount: '금액',
    created: '생성', updated: '변경', noPayments: '결제가 없습니다.', orders: '주문 상품', product: '상품', qty: '수량',
    unitPrice: '단가', refunded: '환불액', balance: '잔액', total: '합계', cancels: '취소·환불', timeline: '타임라인',
    time: '시각', type: '이벤트', actor: '수행자', rule: '규칙', evidence: '토스 증거', showEvidence: '증거 보기',
    hideEvidence: '증거 숨기기', downstream: '후속 메시지', correlation: '요청 ID', asOf: '이 시점의 결제', earlier: '이전',
    later: '이후', verify: '체인 검증', intact: '변조 없음', tampered: '변조 발견', resolve: '수동 처리', reason: '사유',
    reasonHint: '이벤트에 기록될 사유', cancel: '취소', confirm: '확인', force: '강제 처리', escalated: '수동 처리 대기',
    open: '진행 중 (복구 중)', why: '사유', failedCount: '복구 시도', nothing: '확인이 필요한 결제가 없습니다.',
    tossRecord: '토스 기록 (마지막 조회)', noTossRecord: '기록된 토스 조회 결과가 없습니다.', recorded: '기록된 이벤트',
    followers: '팔로워', checkpoint: '체크포인트', deadLetters: '실패 이벤트', rebuild: '재구축', verifyReadModel: '읽기 모델 검증',
    stalled: '멈춤', ok: '정상', behind: '지연', lastProgress: '마지막 진행', position: '위치', mode: '모드',
    paymentsPerMin: '분당 결제 (결과별)', confirmLatency: '승인 지연 (p50 / p95)', openEscalated: '진행 중 / 수동 대기',
    followerLag: '프로젝션·포워더 지연 (이벤트)', downstreamBacklog: '카프카 후속 처리 지연', httpRate: 'HTTP 요청 / 분 (오류)',
    forbidden: '이 역할로는 할 수 없습니다', allocate: '주문별 배분', resolveRefund: '환불 처리', refundId: '환불 ID',
    readOnly: '읽기 전용 (감사자)', loading: '불러오는 중…', notFound: '결제를 찾을 수 없습니다.', method: '결제수단',
    paymentKey: 'paymentKey', revision: '리비전', state: '상태', virtualAccount: '가상계좌', dueDate: '입금 기한',
    keyboard: '단축키: ← → 이벤트 이동', operatorAlert: '운영자 알림', scanNote: 'paymentKey 검색은 최근 결제 1,000건에서 찾습니다.',
    forcedAsk: '토스 기록과 다릅니다. 정말 강제로 처리할까요? 주문번호를 입력해 확인하세요.', since: '경과',
    readyz: '준비 상태', projector: '프로젝터', applied: '적용', head: '최신', live: '실시간',
  },
  en: {
    overview: 'Overview', payments: 'Payments', attention: 'Attention', health: 'Health', signOut: 'Sign out',
    signIn: 'Sign in', apiKey: 'API key', signInHint: 'Paste an operator or auditor API key issued by paymentd. It is exchanged for a short session and never stored in the browser.',
    search: 'Search', searchHint: 'orderId or paymentKey', status: 'Status', seller: 'Seller', buyer: 'Buyer', from: 'From', to: 'To',
    apply: 'Apply', all: 'All', next: 'Next', first: 'First page', orderId: 'Order', orderName: 'Order name', amount: 'Amount',
    created: 'Created', updated: 'Updated', noPayments: 'No payments.', orders: 'Orders', product: 'Product', qty: 'Qty',
    unitPrice: 'Unit price', refunded: 'Refunded', balance: 'Balance', total: 'Total', cancels: 'Cancels & refunds', timeline: 'Timeline',
    time: 'Time', type: 'Event', actor: 'Actor', rule: 'Rule', evidence: "Toss's evidence", showEvidence: 'Show evidence',
    hideEvidence: 'Hide evidence', downstream: 'Downstream', correlation: 'Request id', asOf: 'The payment as of', earlier: 'Earlier',
    later: 'Later', verify: 'Chain verification', intact: 'Intact', tampered: 'Tampered', resolve: 'Resolve', reason: 'Reason',
    reasonHint: 'The reason the event will carry', cancel: 'Cancel', confirm: 'Confirm', force: 'Force', escalated: 'Escalated',
    open: 'Open (recovery on it)', why: 'Why', failedCount: 'Recovery attempts', nothing: 'Nothing needs attention.',
    tossRecord: "Toss's record (last looked up)", noTossRecord: 'No lookup of Toss is recorded.', recorded: 'Recorded event',
    followers: 'Followers', checkpoint: 'Checkpoint', deadLetters: 'Dead letters', rebuild: 'Rebuild', verifyReadModel: 'Verify read model',
    stalled: 'Stalled', ok: 'OK', behind: 'Behind', lastProgress: 'Last progress', position: 'Position', mode: 'Mode',
    paymentsPerMin: 'Payments / min by outcome', confirmLatency: 'Confirm latency (p50 / p95)', openEscalated: 'Open / escalated',
    followerLag: 'Projection & forwarder lag (events)', downstreamBacklog: 'Kafka downstream backlog', httpRate: 'HTTP requests / min (errors)',
    forbidden: 'This role may not do that', allocate: 'Allocate to orders', resolveRefund: 'Resolve refund', refundId: 'Refund',
    readOnly: 'Read-only (auditor)', loading: 'Loading…', notFound: 'No such payment.', method: 'Method',
    paymentKey: 'paymentKey', revision: 'Revision', state: 'State', virtualAccount: 'Virtual account', dueDate: 'Due',
    keyboard: 'Keys: ← → step through events', operatorAlert: 'Operator alert', scanNote: 'paymentKey search looks through the newest 1,000 payments.',
    forcedAsk: "This contradicts Toss's record. Force it? Type the orderId to confirm.", since: 'for',
    readyz: 'Readiness', projector: 'Projector', applied: 'Applied', head: 'Head', live: 'live',
  },
};

const statuses = {
  NOT_STARTED: ['결제 대기', 'Not started'], EXECUTING: ['승인 중', 'Executing'], SUCCESS: ['결제 완료', 'Paid'],
  FAILURE: ['실패', 'Failed'], UNKNOWN: ['확인 필요', 'Unknown'], PARTIAL_CANCELED: ['부분 취소', 'Partly refunded'],
  CANCELED: ['취소 완료', 'Refunded'], WAITING_FOR_DEPOSIT: ['입금 대기', 'Waiting for deposit'],
};

let lang = localStorage.getItem('paystream.lang') || ((navigator.language || '').startsWith('ko') ? 'ko' : 'en');

export function language() { return lang; }
export function setLanguage(l) { lang = l; localStorage.setItem('paystream.lang', l); document.documentElement.lang = l; }
export function t(key) { return dict[lang][key] ?? dict.en[key] ?? key; }
export function statusLabel(s) { const l = statuses[s]; return l ? l[lang === 'ko' ? 0 : 1] : s; }

const krwFormat = new Intl.NumberFormat('ko-KR', { style: 'currency', currency: 'KRW', maximumFractionDigits: 0 });
// krw formats an amount (a decimal string from the API) as ₩1,234,000.
export function krw(amount) {
  if (amount === undefined || amount === null || amount === '') return '';
  return krwFormat.format(Number(amount)).replace('￦', '₩');
}

const kstFormat = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Seoul', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
// kst is an instant in Korea's time ("2026-01-02 15:04:05 KST"); utc is the instant itself.
export function kst(iso) { return iso ? kstFormat.format(new Date(iso)) + ' KST' : ''; }
export function utc(iso) { return iso ? new Date(iso).toISOString() + ' (UTC)' : ''; }

// eventLabel turns payment.manually-resolved.v1 into "manually resolved".
export function eventLabel(type) {
  return type.replace(/^payment\./, '').replace(/\.v\d+$/, '').replace(/-/g, ' ');
}
