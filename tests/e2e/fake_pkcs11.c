/*
 * fake_pkcs11.c - a PKCS#11 module for e2e-pkcs11 with one token, "vault",
 * whose user PIN is locked (SoftHSM2 never locks a PIN). With
 * FAKE_PKCS11_FLAG=1 the token says so in CKF_USER_PIN_LOCKED; without,
 * it says nothing and C_Login answers CKR_PIN_LOCKED. Only what vaultd
 * calls up to the login is here; never installed.
 */
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST list;

static CK_RV
initialize(CK_VOID_PTR args)
{
	return CKR_OK;
}

static CK_RV
finalize(CK_VOID_PTR reserved)
{
	return CKR_OK;
}

static CK_RV
get_info(CK_INFO_PTR info)
{
	memset(info, ' ', sizeof(*info));
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	info->flags = 0;
	info->libraryVersion.major = 1;
	info->libraryVersion.minor = 0;
	return CKR_OK;
}

static CK_RV
get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR slots, CK_ULONG_PTR n)
{
	if (slots != NULL && *n < 1)
		return CKR_BUFFER_TOO_SMALL;
	if (slots != NULL)
		slots[0] = 7;
	*n = 1;
	return CKR_OK;
}

static CK_RV
get_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	memset(info, ' ', sizeof(*info));
	info->flags = CKF_TOKEN_PRESENT;
	return CKR_OK;
}

static CK_RV
get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	const char *flag = getenv("FAKE_PKCS11_FLAG");
	memset(info, ' ', sizeof(*info));
	memcpy(info->label, "vault", 5);
	info->flags = CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED;
	if (flag != NULL && strcmp(flag, "1") == 0)
		info->flags |= CKF_USER_PIN_LOCKED;
	return CKR_OK;
}

static CK_RV
open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
    CK_SESSION_HANDLE_PTR s)
{
	*s = 1;
	return CKR_OK;
}

static CK_RV
close_session(CK_SESSION_HANDLE s)
{
	return CKR_OK;
}

static CK_RV
close_all(CK_SLOT_ID slot)
{
	return CKR_OK;
}

static CK_RV
login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	return CKR_PIN_LOCKED;
}

static CK_RV
logout(CK_SESSION_HANDLE s)
{
	return CKR_USER_NOT_LOGGED_IN;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	list.version.major = 2;
	list.version.minor = 40;
	list.C_Initialize = initialize;
	list.C_Finalize = finalize;
	list.C_GetInfo = get_info;
	list.C_GetFunctionList = C_GetFunctionList;
	list.C_GetSlotList = get_slot_list;
	list.C_GetSlotInfo = get_slot_info;
	list.C_GetTokenInfo = get_token_info;
	list.C_OpenSession = open_session;
	list.C_CloseSession = close_session;
	list.C_CloseAllSessions = close_all;
	list.C_Login = login;
	list.C_Logout = logout;
	*out = &list;
	return CKR_OK;
}
