// PLACEHOLDER, replaced by the webhook listener work (owned by the listener helper).
import SextantAdmission
