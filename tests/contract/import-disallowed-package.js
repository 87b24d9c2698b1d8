// about: importing a package that is not on the allowlist (left-pad) is an error naming it
// expect-status: error
// expect-error-message-includes: left-pad
import leftPad from 'left-pad';
return leftPad('1', 3, '0');
